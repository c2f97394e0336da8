package gen_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

// TestHistoriesReplay is the property test: for many seeds, every generated
// history folds through Evolve, re-deciding each command on the state before
// it yields exactly the events it produced, and the events survive a round
// trip through the codec unchanged.
func TestHistoriesReplay(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		cases, err := gen.New(seed).Cases(5)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, c := range cases {
			var s domain.State
			for i, step := range c.Steps {
				again, err := domain.Decide(s, step.Command, step.Now)
				if err != nil {
					t.Fatalf("seed %d case %s step %d (%s): re-decide refused: %v", seed, c.ID, i, domain.CommandName(step.Command), err)
				}
				if !reflect.DeepEqual(again, step.Events) {
					t.Fatalf("seed %d case %s step %d (%s): re-decided events differ", seed, c.ID, i, domain.CommandName(step.Command))
				}
				for _, e := range step.Events {
					b, err := domain.MarshalEvent(e)
					if err != nil {
						t.Fatalf("seed %d: encode %s: %v", seed, e.Type(), err)
					}
					back, err := domain.UnmarshalEvent(b)
					if err != nil {
						t.Fatalf("seed %d: decode %s: %v", seed, e.Type(), err)
					}
					if !reflect.DeepEqual(normalise(back), normalise(e)) {
						t.Fatalf("seed %d: %s changed in a codec round trip:\n%+v\n%+v", seed, e.Type(), back, e)
					}
					s = domain.Evolve(s, e)
				}
			}
			if !reflect.DeepEqual(s, c.State) {
				t.Fatalf("seed %d case %s: folded state differs from the generator's", seed, c.ID)
			}
			if s.Version != int64(len(c.Events())) {
				t.Fatalf("seed %d: version %d after %d events", seed, s.Version, len(c.Events()))
			}
		}
	}
}

// normalise drops monotonic clock readings and locations so that times
// compare by instant after a JSON round trip.
func normalise(e domain.Event) domain.Event {
	e.Meta.OccurredAt = e.Meta.OccurredAt.UTC()
	e.Meta.RecordedAt = e.Meta.RecordedAt.UTC()
	return e
}

func TestDeterministic(t *testing.T) {
	a, err := gen.New(42).Cases(20)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gen.New(42).Cases(20)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different cases")
	}
	c, err := gen.New(43).Cases(1)
	if err != nil {
		t.Fatal(err)
	}
	if c[0].ID == a[0].ID {
		t.Fatal("different seeds gave the same case id")
	}
}

// TestCoverage checks that the generator exercises the catalogue: every
// command but a few rare administrative ones appears across a few hundred
// cases, and the lives are varied (closed, reopened, high risk, missed
// contacts, declined and rejected referrals).
func TestCoverage(t *testing.T) {
	cases, err := gen.New(7).Cases(400)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var reopened, high, unmet, closed int
	for _, c := range cases {
		for _, s := range c.Steps {
			seen[domain.CommandName(s.Command)]++
		}
		if c.State.Reopened > 0 {
			reopened++
		}
		if len(c.State.RiskHistory) > 0 && slicesContainsHigh(c.State.RiskHistory) {
			high++
		}
		if len(c.State.UnmetContacts()) > 0 {
			unmet++
		}
		if c.State.Status == domain.StatusClosed {
			closed++
		}
	}
	for _, name := range domain.CommandNames() {
		// Erasure ends a case years after its life, by retention or on
		// request: the generator's lives stop before it (it is tested in
		// domain.TestErasure and cmd/caseledger TestErasure).
		if seen[name] == 0 && name != "erase_personal_data" {
			t.Errorf("command %s never generated", name)
		}
	}
	if reopened == 0 || high == 0 || unmet == 0 || closed < len(cases)*6/10 || closed > len(cases)*9/10 {
		t.Errorf("lives too uniform: reopened %d, high %d, unmet contacts %d, closed %d of %d", reopened, high, unmet, closed, len(cases))
	}
}

func slicesContainsHigh(h []domain.RiskChange) bool {
	for _, c := range h {
		if c.To == domain.RiskHigh {
			return true
		}
	}
	return false
}

// TestLivesEndInThePast: every generated event happened before 2026, so a
// live caseledger accepts the demo data whatever today's date.
func TestLivesEndInThePast(t *testing.T) {
	cases, err := gen.New(12).Cases(2000)
	if err != nil {
		t.Fatal(err)
	}
	limit := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range cases {
		for _, s := range c.Steps {
			if s.Now.After(limit) {
				t.Fatalf("case %s has an event recorded at %s", c.ID, s.Now)
			}
		}
	}
}

// TestLoadHoldsEveryCompartment: a modest load holds entries of every
// compartment, sealed ones included, so that tests of what a reader must
// not see are never vacuous.
func TestLoadHoldsEveryCompartment(t *testing.T) {
	cases, err := gen.New(1).Cases(40)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[domain.Compartment]int{}
	for _, c := range cases {
		for _, e := range c.Events() {
			seen[e.Meta.Compartment]++
		}
	}
	for _, comp := range []domain.Compartment{domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared, domain.CompartmentSealed} {
		if seen[comp] == 0 {
			t.Errorf("40 generated cases hold no %s entry (%v)", comp, seen)
		}
	}
}
