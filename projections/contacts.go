package projections

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
)

// ContactRule is the first-contact rule the dashboards judge by: after a
// high risk band or a breach, the victim is to be contacted within
// WorkingDays working days (Monday to Friday, outside Holidays). The rule
// is applied when the read model is read, so changing it needs no rebuild.
type ContactRule struct {
	WorkingDays int
	Holidays    map[string]bool // civil dates, YYYY-MM-DD, in UTC
}

// DefaultContactRule is the practice DOMAIN.md anchors on: two working
// days, no holiday calendar.
func DefaultContactRule() ContactRule {
	return ContactRule{WorkingDays: domain.FirstContactDelay}
}

// DueBy returns the deadline of an obligation that arose at since.
func (r ContactRule) DueBy(since time.Time) time.Time {
	t := since.UTC()
	for n := r.WorkingDays; n > 0; {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday && !r.Holidays[t.Format(time.DateOnly)] {
			n--
		}
	}
	return t
}

// Validate names what is wrong with a rule.
func (r ContactRule) Validate() error {
	if r.WorkingDays < 0 || r.WorkingDays > 60 {
		return fmt.Errorf("first-contact rule: %d working days is outside 0..60", r.WorkingDays)
	}
	return nil
}

// LoadHolidays reads a holiday calendar: one YYYY-MM-DD per line; blank
// lines and lines starting with # are ignored. Errors name the line.
func LoadHolidays(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("holidays: %w", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		d, _, _ := strings.Cut(line, " ") // a name may follow the date
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return nil, fmt.Errorf("holidays: %s line %d: not a YYYY-MM-DD date", path, n)
		}
		out[d] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("holidays: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, errors.New("holidays: " + path + " lists no date")
	}
	return out, nil
}

// ContactStatus is how one obligation stands under a rule at a moment.
type ContactStatus struct {
	DueBy  time.Time
	Met    bool // a victim follow-up was scheduled in time for it
	Missed bool // unmet and past due
}

// Judge says how an obligation stands under the rule at now.
func (r ContactRule) Judge(since, earliest time.Time, now time.Time) ContactStatus {
	due := r.DueBy(since)
	met := !earliest.IsZero() && !earliest.After(due)
	return ContactStatus{DueBy: due, Met: met, Missed: !met && due.Before(now)}
}

// CaseContacts counts a case's contact obligations that are unmet, and
// unmet and past due, under the rule at now.
func CaseContacts(ctx context.Context, db *sql.DB, caseID string, rule ContactRule, now time.Time) (unmet, missed int, err error) {
	err = eachContact(ctx, db, `SELECT since, earliest_due FROM contacts_due WHERE case_id = $1`, []any{caseID}, rule, now, func(s ContactStatus) {
		if !s.Met {
			unmet++
		}
		if s.Missed {
			missed++
		}
	})
	return unmet, missed, err
}

func eachContact(ctx context.Context, db *sql.DB, q string, args []any, rule ContactRule, now time.Time, fn func(ContactStatus)) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var since, earliest string
		if err := rows.Scan(&since, &earliest); err != nil {
			return err
		}
		fn(rule.Judge(parseTS(since), parseTS(earliest), now))
	}
	return rows.Err()
}
