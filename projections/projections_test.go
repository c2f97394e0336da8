package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"github.com/caseledger/caseledger/internal/testfixture"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/projections"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// record appends generated cases to a fresh store, one append per command.
func record(t *testing.T, seed uint64, n int) *sqlite.Store { return recordB(t, seed, n) }

func recordB(t testing.TB, seed uint64, n int) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		last := int64(-1)
		for _, step := range c.Steps {
			var data []eventstore.EventData
			for _, e := range step.Events {
				typ, d, m, err := domain.EncodeStored(e)
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, eventstore.EventData{ID: e.ID, Type: typ, Data: d, Metadata: m})
			}
			if _, err := st.Append(ctx, domain.StreamName(c.ID), eventstore.Exact(last), data); err != nil {
				t.Fatal(err)
			}
			last += int64(len(data))
		}
	}
	return st
}

func readModels(t *testing.T) *sql.DB { return readModelsB(t) }

func readModelsB(t testing.TB) *sql.DB { return testfixture.ReadModels(t) }

// databases returns the read-model databases to run a test on: SQLite
// always, and PostgreSQL when CASELEDGER_TEST_POSTGRES names one (the
// README's test command starts one and sets it; in CI it is required). Each
// PostgreSQL test gets a schema of its own.
func databases(t *testing.T) map[string]func(t *testing.T) *sql.DB {
	dbs := map[string]func(t *testing.T) *sql.DB{"sqlite": readModels}
	url := os.Getenv("CASELEDGER_TEST_POSTGRES")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CASELEDGER_TEST_POSTGRES is not set in CI: scripts/test.sh starts PostgreSQL and sets it")
		}
		t.Log("CASELEDGER_TEST_POSTGRES not set: PostgreSQL read models not tested")
		return dbs
	}
	dbs["postgres"] = func(t *testing.T) *sql.DB {
		t.Helper()
		admin, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		schema := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if db, err := sql.Open("pgx", url); err == nil {
				db.Exec("DROP SCHEMA " + schema + " CASCADE")
				db.Close()
			}
		})
		db, err := sql.Open("pgx", url+"&search_path="+schema)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(2)
		t.Cleanup(func() { db.Close() })
		return db
	}
	return dbs
}

// dump renders the read model's tables as sorted text.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM cases ORDER BY case_id`,
		`SELECT * FROM timeline ORDER BY case_id, version`,
		`SELECT * FROM worklist ORDER BY follow_up_id`,
		`SELECT * FROM referrals`,
		`SELECT * FROM contacts_due`,
		`SELECT * FROM risk_changes`,
		`SELECT * FROM parties`,
		`SELECT * FROM case_items ORDER BY case_id, item_id`,
		`SELECT * FROM case_access ORDER BY case_id, agency, from_version`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "== %s\n%s\n", q, strings.Join(cols, "|"))
		var lines []string
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				parts[i] = fmt.Sprint(v)
			}
			lines = append(lines, strings.Join(parts, "|")+"\n")
		}
		rows.Close()
		// Sorted here, not by the database: PostgreSQL's collation may order
		// text differently from SQLite's bytes.
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, ""))
	}
	return b.String()
}

// TestCaseFilesGolden: generated events in, rows out, compared with the
// golden file (go test ./projections -update rewrites it).
func TestCaseFilesGolden(t *testing.T) {
	ctx := context.Background()
	st := record(t, 3, 6)
	golden := filepath.Join("testdata", "case_files.golden")
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
			got := dump(t, db)
			if *update && name == "sqlite" {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./projections -update)", err)
			}
			if got != string(want) {
				t.Fatalf("read model on %s differs from %s (go test ./projections -update rewrites it after review):\n%s", name, golden, firstDiff(got, string(want)))
			}
			// Personal data stays out of the timeline's summaries.
			for _, secret := range []string{"rue des Érables", "514-555-", "Victim reports threats"} {
				if strings.Contains(got, secret) {
					t.Errorf("read model holds %q", secret)
				}
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d and %d lines", len(al), len(bl))
}

// failing is the case-files projection failing on its n-th batch, as a
// worker killed in the middle of one would leave it: nothing of that batch
// committed.
type failing struct {
	projections.CaseFiles
	n *int
}

var errCrash = errors.New("worker killed mid-batch")

func (f failing) Apply(ctx context.Context, tx *sql.Tx, batch []projections.Change) error {
	*f.n--
	if *f.n == 0 {
		// Half the batch is written in the transaction, then the worker dies.
		if err := f.CaseFiles.Apply(ctx, tx, batch[:len(batch)/2]); err != nil {
			return err
		}
		return errCrash
	}
	return f.CaseFiles.Apply(ctx, tx, batch)
}

// TestExactlyOnceAfterCrash: the worker dies mid-batch; a new one resumes
// from the checkpoint, and the rows equal a rebuild from zero.
func TestExactlyOnceAfterCrash(t *testing.T) {
	ctx := context.Background()
	st := record(t, 8, 60)
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) { exactlyOnce(ctx, t, st, open) })
	}
}

func exactlyOnce(ctx context.Context, t *testing.T, st eventstore.Store, open func(*testing.T) *sql.DB) {
	db := open(t)
	n := 2
	r, err := projections.NewRunner(ctx, db, st, failing{n: &n})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx, nil); !errors.Is(err, errCrash) {
		t.Fatalf("first worker: %v", err)
	}
	// A new worker, with nothing in memory, resumes.
	r, err = projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	resumed := dump(t, db)

	fresh := open(t)
	rb, err := projections.NewRunner(ctx, fresh, st, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, fresh); rebuilt != resumed {
		t.Fatalf("resumed read model differs from a rebuild:\n%s", firstDiff(resumed, rebuilt))
	}
	// And a rebuild in place (Reset, then catch up) gives the same again.
	if err := r.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if again := dump(t, db); again != resumed {
		t.Fatalf("rebuild in place differs:\n%s", firstDiff(again, resumed))
	}
	pos, applied, err := r.Checkpoint(ctx)
	if err != nil || applied == 0 || pos == eventstore.Start {
		t.Fatalf("checkpoint %v %d %v", pos, applied, err)
	}
}

// TestDashboard computes the dashboard from the read model and, separately,
// straight from the generator's final case states: they must agree, on
// every database.
func TestDashboard(t *testing.T) {
	ctx := context.Background()
	const seed, n = 17, 80
	st := record(t, seed, n)
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	// The read model stands at the end of every life; now only decides what
	// counts as overdue or missed.
	now := time.Date(2023, 6, 1, 0, 0, 0, 0, time.UTC)
	want := projections.Dashboard{
		CaseloadByWorker: map[string]int{}, AwaitingAssignment: map[string]int{}, RiskDistribution: map[string]int{},
		ReferralOutcomes: map[string]map[string]int{}, ClosureReasons: map[string]int{}, RiskChanges: map[string]map[string]int{},
	}
	var toVictim, toAggressor, caseDays []float64
	victims := map[string][]time.Time{}
	median := func(xs []float64) float64 {
		if len(xs) == 0 {
			return 0
		}
		sort.Float64s(xs)
		return xs[(len(xs)-1)/2]
	}
	for _, c := range cases {
		s := c.State
		// Independent of the read model: from the generator's states.
		v, a := firstContacts(s)
		if !v.IsZero() {
			toVictim = append(toVictim, v.Sub(s.OpenedAt).Hours())
		}
		if !a.IsZero() {
			toAggressor = append(toAggressor, a.Sub(s.OpenedAt).Hours())
		}
		if s.Status == domain.StatusClosed {
			caseDays = append(caseDays, s.ClosedAt.Sub(s.OpenedAt).Hours()/24)
		}
		want.SafetyPlans += len(s.SafetyPlans)
		if s.Rapid.CellID != uuid.Nil {
			want.RapidResponses++
		}
		for _, p := range s.Parties {
			if p.Role == domain.PartyVictim {
				victims[p.PersonID] = append(victims[p.PersonID], s.OpenedAt)
			}
		}
		for _, rc := range s.RiskHistory {
			month := rc.At.UTC().Format("2006-01")
			if want.RiskChanges[month] == nil {
				want.RiskChanges[month] = map[string]int{}
			}
			want.RiskChanges[month][string(rc.To)]++
		}
		if s.Reopened > 0 {
			want.Reopened++
		}
		want.ActiveConditions += s.ActiveConditions()
		want.Breaches += len(s.Breaches)
		if s.Status == domain.StatusClosed {
			want.ClosedCases++
			want.ClosureReasons[string(s.ClosedReason)]++
		} else {
			want.OpenCases++
			want.RiskDistribution[string(s.Risk)]++
			if s.Assignee == "" {
				want.AwaitingAssignment[string(s.Risk)]++
			} else {
				want.CaseloadByWorker[s.Assignee]++
			}
		}
		for _, f := range s.FollowUps {
			if f.Status == domain.FollowUpOpen && f.DueBy.Before(now) {
				want.OverdueFollowUps++
			}
		}
		for _, cd := range s.UnmetContacts() {
			if cd.DueBy.Before(now) {
				want.MissedContacts++
			}
		}
		for _, r := range s.Referrals {
			if want.ReferralOutcomes[string(r.Destination)] == nil {
				want.ReferralOutcomes[string(r.Destination)] = map[string]int{}
			}
			want.ReferralOutcomes[string(r.Destination)][string(r.Status)]++
			if r.Status == domain.ReferralSentStatus {
				want.ReferralsPending++
			}
		}
	}
	want.MedianHoursToVictimContact, want.MedianHoursToAggressorContact, want.MedianClosedCaseDays = median(toVictim), median(toAggressor), median(caseDays)
	for _, ts := range victims {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for i := 1; i < len(ts); i++ {
			if !ts[i].After(ts[i-1].AddDate(1, 0, 0)) {
				want.RepeatVictims++
				break
			}
		}
	}
	if want.ClosedCases == 0 || want.MissedContacts == 0 || len(want.ReferralOutcomes) < 3 || want.MedianHoursToVictimContact == 0 || want.SafetyPlans == 0 {
		t.Fatalf("fixture too thin: %+v", want)
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
			got, err := projections.ReadDashboard(ctx, db, "police-lavallee", now, projections.DefaultContactRule())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("dashboard:\ngot  %+v\nwant %+v", got, want)
			}
			// Another agency's dashboard counts none of these cases.
			other, err := projections.ReadDashboard(ctx, db, "police-montreal", now, projections.DefaultContactRule())
			if err != nil {
				t.Fatal(err)
			}
			if other.OpenCases+other.ClosedCases != 0 || other.OverdueFollowUps != 0 || other.ReferralsPending != 0 || len(other.RiskChanges) != 0 {
				t.Fatalf("police-montreal's dashboard counts police-lavallee's cases: %+v", other)
			}
		})
	}
}

// firstContacts is the test's own reading of when each side was first
// reached: the earliest completed follow-up with a victim, and with a
// suspect.
func firstContacts(s domain.State) (victim, aggressor time.Time) {
	for _, f := range s.FollowUps {
		if f.Status != domain.FollowUpDone {
			continue
		}
		at := f.DoneAt
		switch s.Parties[f.PartyID].Role {
		case domain.PartyVictim:
			if victim.IsZero() || at.Before(victim) {
				victim = at
			}
		case domain.PartySuspect:
			if aggressor.IsZero() || at.Before(aggressor) {
				aggressor = at
			}
		}
	}
	return victim, aggressor
}
