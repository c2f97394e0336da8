package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// errNotFound marks a case that is not in the record.
var errNotFound = errors.New("not found")

// runReplay prints a case's events from the store, folded and checked
// against its chain.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("replay", getenv, stderr)
	var recordedAt, occurredAt, position string
	f.StringVar(&recordedAt, "as-recorded-at", "", "show the case as the record held it at this time (RFC 3339): what was known then")
	f.StringVar(&occurredAt, "as-occurred-at", "", "show what had happened by this time (RFC 3339), as known now, corrections included")
	var who cliReader
	who.flags(f)
	f.StringVar(&position, "as-of-position", "", "show the case as the record held it up to this global position (COMMIT/PREPARE)")
	var cut casefile.Cut
	parseCut := func() error {
		var errs []error
		if recordedAt != "" {
			t, err := time.Parse(time.RFC3339Nano, recordedAt)
			if err != nil {
				errs = append(errs, errors.New("--as-recorded-at is not an RFC 3339 time (e.g. 2025-03-03T13:00:00Z)"))
			}
			cut.RecordedAt = t
		}
		if occurredAt != "" {
			t, err := time.Parse(time.RFC3339Nano, occurredAt)
			if err != nil {
				errs = append(errs, errors.New("--as-occurred-at is not an RFC 3339 time (e.g. 2025-03-03T13:00:00Z)"))
			}
			cut.OccurredAt = t
		}
		if position != "" {
			p, err := eventstore.ParsePosition(position)
			if err != nil {
				errs = append(errs, errors.New("--as-of-position is not a position (COMMIT/PREPARE, as verify and the API print them)"))
			}
			cut.Position = &p
		}
		n := 0
		for _, v := range []string{recordedAt, occurredAt, position} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, errors.New("give at most one of --as-recorded-at, --as-occurred-at and --as-of-position"))
		}
		if cut.RecordedAt.After(time.Now()) || cut.OccurredAt.After(time.Now()) {
			errs = append(errs, errors.New("the time is in the future"))
		}
		return errors.Join(errs...)
	}
	if err := f.parse(args, 1, parseCut, func() error { return who.validate() }); err != nil {
		return err
	}
	caseID, err := uuid.Parse(f.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: CASE_ID is not a uuid", errUsage)
	}
	store, err := openReader(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()
	state, recs, err := casefile.Load(ctx, store, caseID)
	if err != nil {
		return fmt.Errorf("replay %s: %w", caseID, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("case %s: %w in %s", caseID, errNotFound, f.store.where())
	}
	if err := who.record(ctx, f.store, who.actor(state.Agency), caseID, []string{"replay"}, uuid.Nil, ""); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	// The chain is checked over the whole stream, whatever the view.
	broken := eventstore.VerifyStream(recs)
	if recordedAt == "" && occurredAt == "" && position == "" {
		events := make([]domain.Event, len(recs))
		for i, r := range recs {
			if events[i], err = casefile.Decode(r); err != nil {
				return err
			}
		}
		printTimeline(stdout, state, events)
	} else {
		past, events, kept, err := casefile.Replay(recs, cut, time.Now())
		if err != nil {
			return fmt.Errorf("case %s: %w", caseID, err)
		}
		versions := make([]int64, len(kept))
		for i, r := range kept {
			versions[i] = r.Version
		}
		switch {
		case recordedAt != "":
			fmt.Fprintf(stdout, "AS RECORDED AT %s: %d of the %d events the record holds now\n", cut.RecordedAt.UTC().Format(time.RFC3339), len(events), len(recs))
		case position != "":
			fmt.Fprintf(stdout, "AS OF POSITION %s: %d of the %d events the record holds now\n", cut.Position, len(events), len(recs))
		default:
			fmt.Fprintf(stdout, "AS OCCURRED BY %s, AS KNOWN NOW: %d of the %d events (corrections made later of those included)\n", cut.OccurredAt.UTC().Format(time.RFC3339), len(events), len(recs))
		}
		printTimeline(stdout, past, events, versions...)
	}
	if broken != nil {
		fmt.Fprintf(stdout, "\nCHAIN BROKEN: %v\n", broken)
		return fmt.Errorf("case %s: %w", caseID, broken)
	}
	fmt.Fprintf(stdout, "\nchain verified: %d events, last hash %s\n", len(recs), recs[len(recs)-1].Hash)
	return nil
}
