package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/caseledger/caseledger/domain"
)

// printTimeline prints a case as a table: when each event happened, how
// long after it was recorded, who acted, in which compartment, and what.
// Fields holding personal data are left out (domain.Summary).
// versions, when given, are the events' versions in their stream (a past
// view keeps some events only); else the events are the whole stream.
func printTimeline(w io.Writer, s domain.State, events []domain.Event, versions ...int64) {
	risk := string(s.Risk)
	if risk == "" {
		risk = "not assessed"
	}
	fmt.Fprintf(w, "%s  status %s, risk %s, %d events, %d parties, agency %s, assigned to %s\n\n",
		domain.StreamName(s.ID), s.Status, risk, s.Version, len(s.Parties), s.Agency, s.Assignee)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tOCCURRED (UTC)\tRECORDED\tWHO\tCOMPARTMENT\tWHAT")
	for i, e := range events {
		lag := e.Meta.RecordedAt.Sub(e.Meta.OccurredAt).Round(time.Minute)
		v := int64(i)
		if i < len(versions) {
			v = versions[i]
		}
		fmt.Fprintf(tw, "%d\t%s\t+%s\t%s (%s, %s)\t%s\t%s  %s\n", v,
			e.Meta.OccurredAt.UTC().Format("2006-01-02 15:04"), shortDuration(lag),
			e.Meta.Actor.UserID, e.Meta.Actor.Role, e.Meta.Actor.Agency,
			e.Meta.Compartment, domain.Title(e.Type()), domain.Summary(e.Data))
	}
	tw.Flush()
}

func shortDuration(d time.Duration) string {
	if d < time.Hour {
		return strconv.Itoa(int(d.Minutes())) + "m"
	}
	return d.String()
}

// progress draws a one-line bar on stderr for long runs; short runs print
// nothing.
type progress struct {
	w     io.Writer
	total int
	last  time.Time
	shown bool
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now(), last: time.Now()}
}

func (p *progress) step(n int) {
	if time.Since(p.last) < 500*time.Millisecond || time.Since(p.start) < time.Second {
		return
	}
	p.last = time.Now()
	p.shown = true
	const width = 30
	filled := width * n / max(p.total, 1)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.w, "\r[%s] %d/%d", bar, n, p.total)
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

// count shows a running count when the total is not known.
func (p *progress) count(n int64) {
	if time.Since(p.last) < 500*time.Millisecond || time.Since(p.start) < time.Second {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(p.w, "\r%d events", n)
}
