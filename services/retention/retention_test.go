package retention_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/retention"
	"github.com/google/uuid"
)

func id(n byte) uuid.UUID { return uuid.UUID{15: n} }

// TestPlan: the rules of DOMAIN.md on a table of cases.
func TestPlan(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	closed := func(n byte, agency string, at time.Time) domain.State {
		return domain.State{ID: id(n), Status: domain.StatusClosed, Agency: agency, ClosedAt: at,
			Parties: map[uuid.UUID]domain.Party{id(100 + n): {PersonID: "P-" + string('0'+rune(n))}}}
	}
	sixYears, fourYears := now.AddDate(-6, 0, 0), now.AddDate(-4, 0, 0)
	withCharges := closed(3, "police-lavallee", sixYears)
	withCharges.Submitted = 1
	held := closed(4, "police-lavallee", sixYears)
	held.Holds = map[uuid.UUID]domain.Hold{id(200): {ID: id(200), Active: true}}
	released := closed(5, "police-lavallee", sixYears)
	released.Holds = map[uuid.UUID]domain.Hold{id(201): {ID: id(201), Active: false}}
	related := closed(6, "police-lavallee", sixYears)
	related.Parties = map[uuid.UUID]domain.Party{id(106): {PersonID: "P-shared"}}
	open := domain.State{ID: id(7), Status: domain.StatusOpen, Agency: "police-lavallee",
		Parties: map[uuid.UUID]domain.Party{id(107): {PersonID: "P-shared"}}}
	erased := closed(8, "police-lavallee", sixYears)
	erased.Erased = &domain.Erasure{At: now.AddDate(-1, 0, 0)}
	longer := closed(9, "shelter-x", sixYears)
	sevenCharged := closed(10, "court-y", now.AddDate(-7, 0, 0))
	sevenCharged.Submitted = 2
	cases := []domain.State{closed(1, "police-lavallee", sixYears), closed(2, "police-lavallee", fourYears), withCharges, held, released, related, open, erased, longer, sevenCharged}
	rules := retention.Defaults()
	rules.Agencies = map[string]retention.Rule{
		"shelter-x": {Name: "shelter-10y", NoChargesYears: 10},
		"court-y":   {Name: "court-y", NoChargesYears: 5, WithChargesYears: 7},
	}
	want := map[byte]struct{ action, rule, why string }{
		1:  {retention.Erase, "qc-default", "closed without charges on 2020-12-03: 5 years passed"},
		2:  {retention.Wait, "qc-default", "due 5 years after"},
		3:  {retention.Keep, "qc-default", "court's retention period is not configured"},
		4:  {retention.Blocked, "qc-default", "active legal hold " + id(200).String()},
		5:  {retention.Erase, "qc-default", "5 years passed"},
		6:  {retention.Blocked, "qc-default", "case " + id(7).String() + ", still open, is about person P-shared"},
		7:  {retention.Keep, "qc-default", "open"},
		8:  {retention.Erased, "qc-default", "erased on 2025-12-03"},
		9:  {retention.Wait, "shelter-10y", "due 10 years after"},
		10: {retention.Erase, "court-y", "closed with its file sent to the prosecutor on 2019-12-03: 7 years passed"},
	}
	plan := retention.Plan(cases, rules, now)
	if len(plan) != len(want) {
		t.Fatalf("%d decisions for %d cases", len(plan), len(want))
	}
	for _, d := range plan {
		w := want[d.CaseID[15]]
		if d.Action != w.action || d.Rule != w.rule || !strings.Contains(d.Why, w.why) {
			t.Errorf("case %d: %s %s %q, want %s %s …%q…", d.CaseID[15], d.Action, d.Rule, d.Why, w.action, w.rule, w.why)
		}
	}
}

func TestRulesAreChecked(t *testing.T) {
	bad := retention.Rules{Default: retention.Rule{NoChargesYears: -1}, Agencies: map[string]retention.Rule{"x": {Name: "x", WithChargesYears: 200}}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "default has no name") || !strings.Contains(err.Error(), "agency x: years must be between 0 and 100") {
		t.Fatalf("Validate = %v", err)
	}
}
