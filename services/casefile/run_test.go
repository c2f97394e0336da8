package casefile_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// TestDecideRun: given a case after some steps, when a run of commands is
// decided, then the run holds the events of the commands decided in a row
// and ends at the first one that is refused or already recorded, which is
// answered only when it comes first.
func TestDecideRun(t *testing.T) {
	c, err := gen.New(21).Case()
	if err != nil {
		t.Fatal(err)
	}
	steps := c.Steps
	open, ok := steps[0].Command.(domain.OpenCase)
	if !ok {
		t.Fatalf("first step is %s", domain.CommandName(steps[0].Command))
	}
	open.CommandID = uuid.New() // another command opening the same case
	type outcome struct {
		dup  bool
		err  error
		step int // step whose events the command's are
	}
	for _, tc := range []struct {
		name    string
		given   int // steps already in the case
		when    []domain.Command
		decided []int // steps whose events make the run
		want    []outcome
	}{
		{"commands in a row on a new case", 0, cmds(steps[:5]), []int{0, 1, 2, 3, 4},
			[]outcome{{step: 0}, {step: 1}, {step: 2}, {step: 3}, {step: 4}}},
		{"commands in a row on a case", 3, cmds(steps[3:6]), []int{3, 4, 5},
			[]outcome{{step: 3}, {step: 4}, {step: 5}}},
		{"recorded before, first", 3, cmds(steps[1:2], steps[3:4]), nil,
			[]outcome{{dup: true, step: 1}}},
		{"recorded before, later: the run ends before it", 3, cmds(steps[3:4], steps[1:2]), []int{3},
			[]outcome{{step: 3}}},
		{"recorded in the same run: the run ends before it", 0, cmds(steps[0:2], steps[1:2]), []int{0, 1},
			[]outcome{{step: 0}, {step: 1}}},
		{"refused, first", 0, cmds(steps[1:2]), nil,
			[]outcome{{err: domain.ErrCaseNotFound}}},
		{"refused, later: the run ends before it", 0, []domain.Command{steps[0].Command, open}, []int{0},
			[]outcome{{step: 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			given := fold(steps[:tc.given])
			var wantEvents []domain.Event
			var times []time.Time
			for _, i := range tc.decided {
				wantEvents = append(wantEvents, steps[i].Events...)
				times = append(times, steps[i].Now)
			}
			now := func() time.Time {
				if len(times) == 0 {
					return steps[len(steps)-1].Now // a refused command's
				}
				t := times[0]
				times = times[1:]
				return t
			}
			var prepared []int
			run := casefile.DecideRun(given, tc.when, now, func(i int, events []domain.Event) {
				prepared = append(prepared, i)
				for j := range events {
					events[j].Meta.TraceParent = "00-trace"
				}
			})
			if run.Base != int64(tc.given) {
				t.Errorf("base %d, want %d", run.Base, tc.given)
			}
			for i := range wantEvents {
				wantEvents[i].Meta.TraceParent = "00-trace"
			}
			// Each command's first event carries the command's digest; the
			// generator's events, decided without recording, do not.
			got := append([]domain.Event(nil), run.Events...)
			for i := range got {
				got[i].Meta.CommandDigest = ""
			}
			if len(run.Events) > 0 && run.Events[0].Meta.CommandDigest == "" {
				t.Error("the run's first event carries no command digest")
			}
			if !reflect.DeepEqual(got, wantEvents) {
				t.Errorf("run events differ from the steps' events:\n%+v\n%+v", run.Events, wantEvents)
			}
			after := fold(steps[:tc.given])
			for _, e := range wantEvents {
				after = domain.Evolve(after, e)
			}
			if !reflect.DeepEqual(withoutDigests(run.State), withoutDigests(after)) {
				t.Error("run state is not the case after the run's events")
			}
			if len(prepared) != len(tc.decided) {
				t.Errorf("prepared %v, want one call per command decided", prepared)
			}
			if len(run.Outcomes) != len(tc.want) {
				t.Fatalf("%d outcomes, want %d", len(run.Outcomes), len(tc.want))
			}
			for i, w := range tc.want {
				o := run.Outcomes[i]
				if w.err != nil {
					if !errors.Is(o.Err, w.err) || o.Duplicate || len(o.EventIDs) > 0 {
						t.Errorf("outcome %d: %+v, want refusal %v", i, o, w.err)
					}
					continue
				}
				var ids []uuid.UUID
				for _, e := range steps[w.step].Events {
					ids = append(ids, e.ID)
				}
				first := after.Entries[ids[0]].Version
				if o.Err != nil || o.Duplicate != w.dup || !reflect.DeepEqual(o.EventIDs, ids) ||
					o.FirstVersion != first || o.LastVersion != first+int64(len(ids))-1 {
					t.Errorf("outcome %d: %+v, want step %d's events from version %d (duplicate %v)", i, o, w.step, first, w.dup)
				}
			}
		})
	}
}

// TestRunAppend appends runs as ingest does, one append each, and the case
// loads to the state the runs predicted; a run that expects another version
// is refused and writes nothing.
func TestRunAppend(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	c, err := gen.New(22).Case()
	if err != nil {
		t.Fatal(err)
	}
	var s domain.State
	for from := 0; from < len(c.Steps); from += 4 {
		part := c.Steps[from:min(from+4, len(c.Steps))]
		times := make([]time.Time, 0, len(part))
		for _, step := range part {
			times = append(times, step.Now)
		}
		now := func() time.Time { t := times[0]; times = times[1:]; return t }
		run := casefile.DecideRun(s, cmds(part), now, nil)
		if len(run.Outcomes) != len(part) {
			t.Fatalf("steps %d…: %d outcomes", from, len(run.Outcomes))
		}
		if from == 4 {
			stale := run
			stale.Base-- // as if decided before the case's last event
			if _, err := stale.Append(ctx, st); !errors.Is(err, eventstore.ErrWrongVersion) {
				t.Fatalf("stale run: %v", err)
			}
		}
		res, err := run.Append(ctx, st)
		if err != nil || res.Duplicate || res.FirstVersion != run.Base {
			t.Fatalf("steps %d…: %+v %v", from, res, err)
		}
		s = run.State
	}
	loaded, _, err := casefile.Load(ctx, st, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded, s) || !reflect.DeepEqual(withoutDigests(loaded), c.State) {
		t.Fatal("the case loads to another state than the runs predicted")
	}
}

// withoutDigests is s as the generator, which decides without recording,
// folds it: with no command digests on its entries.
func withoutDigests(s domain.State) domain.State {
	s = s.Clone()
	for id, e := range s.Entries {
		e.Digest = ""
		s.Entries[id] = e
	}
	return s
}

func cmds(parts ...[]gen.Step) []domain.Command {
	var out []domain.Command
	for _, steps := range parts {
		for _, s := range steps {
			out = append(out, s.Command)
		}
	}
	return out
}

func fold(steps []gen.Step) domain.State {
	var s domain.State
	for _, step := range steps {
		for _, e := range step.Events {
			s = domain.Evolve(s, e)
		}
	}
	return s
}

// TestConflictingDuplicate: a command id recorded with one body and sent
// again with another is refused, and nothing is recorded; the same body is
// a retry.
func TestConflictingDuplicate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	caseID := uuid.New()
	actor := domain.Actor{UserID: "cad", Role: domain.RoleSystem, Agency: "police-a"}
	open := domain.OpenCase{CommandHeader: domain.CommandHeader{CaseID: caseID, CommandID: uuid.New(), Actor: actor, OccurredAt: at, SourceSystem: "cad"},
		CaseOpened: domain.CaseOpened{Module: "victim_support", Agency: "police-a"}}
	now := func() time.Time { return at }
	if _, _, err := casefile.Execute(ctx, st, open, now, 3); err != nil {
		t.Fatal(err)
	}
	if res, _, err := casefile.Execute(ctx, st, open, now, 3); err != nil || !res.Duplicate {
		t.Fatalf("the same command again: %+v %v", res, err)
	}
	other := open
	other.Module = "aggressor_support"
	_, _, err = casefile.Execute(ctx, st, other, now, 3)
	var fe *domain.FieldError
	if !errors.Is(err, domain.ErrConflictingDuplicate) || !errors.As(err, &fe) || fe.Field != "command_id" {
		t.Fatalf("the same id with another body: %v", err)
	}
	state, recs, err := casefile.Load(ctx, st, caseID)
	if err != nil || len(recs) != 1 || state.Module != "victim_support" {
		t.Fatalf("the record changed: %d events, module %q, %v", len(recs), state.Module, err)
	}
}
