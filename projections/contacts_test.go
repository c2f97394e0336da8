package projections_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/projections"
	"github.com/google/uuid"
)

func TestContactRuleDueBy(t *testing.T) {
	fri := time.Date(2025, 3, 7, 14, 30, 0, 0, time.UTC)
	holidays := map[string]bool{"2025-03-10": true} // the Monday after
	rows := []struct {
		name string
		rule projections.ContactRule
		want time.Time
	}{
		{"default: Friday plus 2 is Tuesday", projections.DefaultContactRule(), time.Date(2025, 3, 11, 14, 30, 0, 0, time.UTC)},
		{"a holiday Monday pushes to Wednesday", projections.ContactRule{WorkingDays: 2, Holidays: holidays}, time.Date(2025, 3, 12, 14, 30, 0, 0, time.UTC)},
		{"one working day over a holiday", projections.ContactRule{WorkingDays: 1, Holidays: holidays}, time.Date(2025, 3, 11, 14, 30, 0, 0, time.UTC)},
		{"zero is the same instant", projections.ContactRule{}, fri},
	}
	for _, r := range rows {
		if got := r.rule.DueBy(fri); !got.Equal(r.want) {
			t.Errorf("%s: %v, want %v", r.name, got, r.want)
		}
	}
	if err := (projections.ContactRule{WorkingDays: -1}).Validate(); err == nil {
		t.Error("a negative delay was accepted")
	}
}

func TestLoadHolidays(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# Québec 2025\n2025-06-24 Fête nationale\n\n2025-07-01\n"), 0o600)
	h, err := projections.LoadHolidays(good)
	if err != nil || len(h) != 2 || !h["2025-06-24"] || !h["2025-07-01"] {
		t.Fatalf("got %v, %v", h, err)
	}
	for name, body := range map[string]string{"bad.txt": "2025-06-24\n24/06/2025\n", "empty.txt": "# nothing\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := projections.LoadHolidays(p); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "bad.txt" && !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: %v does not name the line", name, err)
		}
	}
	if _, err := projections.LoadHolidays(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

// TestDashboardContactRule: the first-contact rule is applied when the read
// model is read. Under a longer delay with a holiday calendar, missed
// contacts are counted as an independent reading of the events says, and
// differ from the default rule's count, with no rebuild between the two.
func TestDashboardContactRule(t *testing.T) {
	ctx := context.Background()
	const seed, n = 17, 80
	st := record(t, seed, n)
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	holidays := map[string]bool{}
	for d := gen.Epoch; d.Year() < 2026; d = d.AddDate(0, 0, 1) {
		if d.Day() == 1 || d.Day() == 15 {
			holidays[d.Format(time.DateOnly)] = true
		}
	}
	rule := projections.ContactRule{WorkingDays: 4, Holidays: holidays}
	now := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	want := 0
	for _, c := range cases {
		want += missedFromEvents(c.Events(), c.State, 4, holidays, now)
	}
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.CatchUp(ctx, nil); err != nil {
				t.Fatal(err)
			}
			got, err := projections.ReadDashboard(ctx, db, "police-lavallee", now, rule)
			if err != nil {
				t.Fatal(err)
			}
			def, err := projections.ReadDashboard(ctx, db, "police-lavallee", now, projections.DefaultContactRule())
			if err != nil {
				t.Fatal(err)
			}
			if got.MissedContacts != want || def.MissedContacts == want {
				t.Fatalf("missed contacts: %d under the rule (want %d), %d under the default", got.MissedContacts, want, def.MissedContacts)
			}
		})
	}
}

// missedFromEvents reads a case's obligations off its events: a move into
// the high band or a breach owes a victim contact within days working days
// (weekends and holidays skipped); a victim follow-up scheduled later and
// due in that window answers it.
func missedFromEvents(evs []domain.Event, s domain.State, days int, holidays map[string]bool, now time.Time) int {
	victims := map[uuid.UUID]bool{}
	for _, p := range s.Parties {
		victims[p.ID] = p.Role == domain.PartyVictim
	}
	missed := 0
	for i, e := range evs {
		owed := false
		switch d := e.Data.(type) {
		case domain.RiskLevelChanged:
			owed = d.To == domain.RiskHigh && d.From != domain.RiskHigh
		case domain.BreachReported:
			owed = true
		}
		if !owed {
			continue
		}
		since := e.Meta.OccurredAt.UTC()
		due := since
		for left := days; left > 0; {
			due = due.AddDate(0, 0, 1)
			if due.Weekday() != time.Saturday && due.Weekday() != time.Sunday && !holidays[due.Format(time.DateOnly)] {
				left--
			}
		}
		met := false
		for _, later := range evs[i+1:] {
			if f, ok := later.Data.(domain.FollowUpScheduled); ok && victims[f.PartyID] && !f.DueBy.Before(since) && !f.DueBy.After(due) {
				met = true
			}
		}
		if !met && due.Before(now) {
			missed++
		}
	}
	return missed
}

// TestSchemaUpgradeRebuilds: a read model built before schema versions
// (version 1: cases had unmet_contacts, contacts_due had due_by/met_by) is
// dropped and rebuilt from zero on start, rather than failing on a column
// that no longer exists.
func TestSchemaUpgradeRebuilds(t *testing.T) {
	ctx := context.Background()
	st := record(t, 5, 6)
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			for _, q := range []string{
				`CREATE TABLE checkpoints (projection TEXT PRIMARY KEY, position TEXT NOT NULL, applied INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
				`INSERT INTO checkpoints VALUES ('case_files', '99/99', 99, '2025-01-01')`,
				`CREATE TABLE contacts_due (case_id TEXT NOT NULL, event_id TEXT NOT NULL, reason TEXT NOT NULL, since TEXT NOT NULL, due_by TEXT NOT NULL, met_by TEXT NOT NULL, PRIMARY KEY (case_id, event_id))`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
			if err != nil {
				t.Fatal(err)
			}
			if _, applied, _ := r.Checkpoint(ctx); applied != 0 {
				t.Fatalf("the old checkpoint survived the upgrade (applied %d)", applied)
			}
			if n, err := r.CatchUp(ctx, nil); err != nil || n == 0 {
				t.Fatalf("rebuild after upgrade: %d, %v", n, err)
			}
			if _, _, err := projections.CaseContacts(ctx, db, uuid.Nil.String(), projections.DefaultContactRule(), time.Now()); err != nil {
				t.Fatal(err)
			}
			// A second start with the same version keeps what was built.
			r2, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
			if err != nil {
				t.Fatal(err)
			}
			if _, applied, _ := r2.Checkpoint(ctx); applied == 0 {
				t.Fatal("a restart at the same schema version rebuilt")
			}
		})
	}
}
