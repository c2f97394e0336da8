package domain_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/google/uuid"
)

// Given/when/then tables over Evolve: events are built directly (Evolve
// trusts them), folded, and the state fields each one moves are compared
// with values written out by hand.

// Days of the week around t0 (Monday 3 March 2025, 09:00 UTC).
var (
	monday   = t0
	thursday = t0.AddDate(0, 0, 3)
	friday   = t0.AddDate(0, 0, 4)
	saturday = t0.AddDate(0, 0, 5)
	sunday   = t0.AddDate(0, 0, 6)
)

// eid is the id of the event key.
func eid(key string) uuid.UUID { return tid("event/" + key) }

// fact builds the event key at at, in its type's default compartment.
func fact(key string, at time.Time, data domain.EventData) domain.Event {
	comp := domain.CompartmentShared
	if s := domain.SpecOf(data); s != nil {
		comp = s.Compartment
	}
	return domain.Event{ID: eid(key), CaseID: caseID, Data: data, Meta: domain.Meta{
		Actor: officer, OccurredAt: at, RecordedAt: at.Add(recordLag), SourceSystem: "test-suite",
		CorrelationID: cmdID(key), CausationID: cmdID(key), Compartment: comp}}
}

func factIn(key string, at time.Time, c domain.Compartment, data domain.EventData) domain.Event {
	e := fact(key, at, data)
	e.Meta.Compartment = c
	return e
}

// facts concatenates event lists without sharing arrays.
func facts(parts ...[]domain.Event) []domain.Event {
	var out []domain.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// baseFacts: the case opened with a victim and a suspect.
func baseFacts() []domain.Event {
	return []domain.Event{
		fact("open", t0, domain.CaseOpened{Module: "victim_support", Agency: policeAgency}),
		fact("victim", t0, domain.PartyIdentified{PartyID: victimID, PersonID: "MNI-0000001", Role: "victim", Relationship: "spouse", Cohabiting: true, Language: "fr"}),
		fact("suspect", t0, domain.PartyIdentified{PartyID: suspectID, PersonID: "MNI-0000002", Role: "suspect", Relationship: "spouse", Cohabiting: true}),
	}
}

func riskChange(key string, at time.Time, from, to domain.RiskBand) domain.Event {
	return fact(key, at, domain.RiskLevelChanged{From: from, To: to, Trigger: "assessment"})
}

func followUpFact(key string, at time.Time, fu, party uuid.UUID, due time.Time) domain.Event {
	return fact(key, at, domain.FollowUpScheduled{FollowUpID: fu, PartyID: party, Kind: "call", DueBy: due, Assignee: "sw-01"})
}

type evolution struct {
	name  string
	given []domain.Event
	when  domain.Event
	then  func(t *testing.T, before, after domain.State)
}

func foldFacts(evs []domain.Event) domain.State {
	var s domain.State
	for _, e := range evs {
		s = domain.Evolve(s, e)
	}
	return s
}

func runEvolutions(t *testing.T, rows []evolution) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			before := foldFacts(r.given).Clone()
			after := domain.Evolve(foldFacts(r.given), r.when)
			if after.Version != before.Version+1 {
				t.Errorf("version %d after one event on %d", after.Version, before.Version)
			}
			entry, ok := after.Entries[r.when.ID]
			if !ok {
				t.Fatalf("the event is not in the entries")
			}
			if entry.Type != r.when.Type() || entry.Version != before.Version {
				t.Errorf("entry %+v, want type %q at version %d", entry, r.when.Type(), before.Version)
			}
			r.then(t, before, after)
		})
	}
}

func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s\n got %+v\nwant %+v", what, got, want)
	}
}

func TestEvolveCase(t *testing.T) {
	base := baseFacts()
	tr := tid("transfer/1")
	requested := facts(base, []domain.Event{
		fact("assign", t0, domain.CaseAssigned{Assignee: "sw-01", Agency: policeAgency}),
		fact("request-tr", t0, domain.TransferRequested{TransferID: tr, ToAgency: "police-riviere", ToUser: "sw-r1", Reason: "victim moved"}),
	})
	closureAsked := facts(base, []domain.Event{fact("request-closure", t0, domain.ClosureRequested{Reason: "client_request"})})
	closedAt := t0.AddDate(0, 2, 0)
	closed := facts(base, []domain.Event{fact("close", closedAt, domain.CaseClosed{Reason: "services_completed"})})
	reopenedOnce := facts(closed, []domain.Event{
		fact("reopen", closedAt.AddDate(0, 1, 0), domain.CaseReopened{Trigger: "breach"}),
		fact("close-2", closedAt.AddDate(0, 2, 0), domain.CaseClosed{Reason: "risk_reduced"}),
	})
	rows := []evolution{
		{name: "case opened", when: fact("open", t0, domain.CaseOpened{Module: "joint", Agency: policeAgency}), then: func(t *testing.T, _, s domain.State) {
			if s.ID != caseID || s.Status != domain.StatusOpen || s.Module != "joint" || s.Agency != policeAgency || !s.OpenedAt.Equal(t0) {
				t.Errorf("opened state %+v", s)
			}
			same(t, "entry", s.Entries[eid("open")], domain.Entry{Type: "case.opened", Version: 0, Compartment: domain.CompartmentShared})
		}},
		{name: "party identified", given: base[:1], when: base[1], then: func(t *testing.T, _, s domain.State) {
			same(t, "party", s.Parties, map[uuid.UUID]domain.Party{victimID: {ID: victimID, EventID: eid("victim"), PersonID: "MNI-0000001", Role: "victim", Relationship: "spouse", Cohabiting: true, Language: "fr"}})
		}},
		{name: "calls add their CAD references", given: facts(base, []domain.Event{fact("call-1", t0, domain.CallReceived{CADRef: "CAD-1", Channel: "911", NatureCode: "VC", Priority: 1})}),
			when: fact("call-2", t0, domain.CallReceived{CADRef: "CAD-2", Channel: "911", NatureCode: "VC", Priority: 2}), then: func(t *testing.T, _, s domain.State) {
				same(t, "cad refs", s.CADRefs, []string{"CAD-1", "CAD-2"})
			}},
		{name: "arrest counted", given: base, when: fact("arrest", t0, domain.ArrestMade{PartyID: suspectID, Charges: []string{"266"}}), then: func(t *testing.T, _, s domain.State) {
			same(t, "arrests", s.Arrests, 1)
		}},
		{name: "cases linked", given: facts(base, []domain.Event{fact("link-1", t0, domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{tid("c1")}, Reason: "same_victim"})}),
			when: fact("link-2", t0, domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{tid("c2"), tid("c3")}, Reason: "same_couple"}), then: func(t *testing.T, _, s domain.State) {
				same(t, "linked", s.LinkedCases, []uuid.UUID{tid("c1"), tid("c2"), tid("c3")})
			}},
		{name: "case assigned", given: base, when: fact("assign", t0, domain.CaseAssigned{Assignee: "sw-07", Agency: "cisss-lavallee"}), then: func(t *testing.T, _, s domain.State) {
			if s.Assignee != "sw-07" || s.Agency != "cisss-lavallee" {
				t.Errorf("assignee %q agency %q", s.Assignee, s.Agency)
			}
		}},
		{name: "transfer requested", given: requested[:len(requested)-1], when: requested[len(requested)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "transfer", s.Transfer, &domain.Transfer{ID: tr, ToAgency: "police-riviere", ToUser: "sw-r1"})
			if !s.Known(tr) {
				t.Error("transfer id not known")
			}
			if s.Agency != policeAgency || s.Assignee != "sw-01" {
				t.Errorf("a request moved the case to %q/%q", s.Agency, s.Assignee)
			}
		}},
		{name: "transfer accepted", given: requested, when: fact("accept-tr", t0, domain.TransferAccepted{TransferID: tr}), then: func(t *testing.T, _, s domain.State) {
			if s.Transfer != nil || s.Agency != "police-riviere" || s.Assignee != "sw-r1" {
				t.Errorf("transfer %+v agency %q assignee %q", s.Transfer, s.Agency, s.Assignee)
			}
		}},
		{name: "transfer rejected", given: requested, when: fact("reject-tr", t0, domain.TransferRejected{TransferID: tr, Reason: "no"}), then: func(t *testing.T, _, s domain.State) {
			if s.Transfer != nil || s.Agency != policeAgency || s.Assignee != "sw-01" {
				t.Errorf("transfer %+v agency %q assignee %q", s.Transfer, s.Agency, s.Assignee)
			}
			if !s.Known(tr) {
				t.Error("a rejected transfer id is forgotten")
			}
		}},
		{name: "closure requested", given: base, when: closureAsked[len(closureAsked)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "closure", s.Closure, domain.Closure{Status: domain.ClosurePending, Reason: "client_request"})
		}},
		{name: "closure approved", given: closureAsked, when: fact("approve", t0, domain.ClosureApproved{}), then: func(t *testing.T, _, s domain.State) {
			same(t, "closure", s.Closure, domain.Closure{Status: domain.ClosureApprovedS, Reason: "client_request"})
		}},
		{name: "closure rejected", given: closureAsked, when: fact("reject-closure", t0, domain.ClosureRejected{Reason: "not yet"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "closure", s.Closure, domain.Closure{Status: domain.ClosureRejectedS, Reason: "client_request"})
		}},
		{name: "case closed", given: facts(closureAsked, []domain.Event{fact("approve", t0, domain.ClosureApproved{})}), when: fact("close", closedAt, domain.CaseClosed{Reason: "services_completed", Justification: "why"}),
			then: func(t *testing.T, _, s domain.State) {
				if s.Status != domain.StatusClosed || !s.ClosedAt.Equal(closedAt) || s.ClosedReason != "services_completed" {
					t.Errorf("status %q closed at %v reason %q", s.Status, s.ClosedAt, s.ClosedReason)
				}
				same(t, "closure after closing", s.Closure, domain.Closure{})
			}},
		{name: "case reopened", given: closed, when: fact("reopen", closedAt.AddDate(0, 1, 0), domain.CaseReopened{Trigger: "breach"}), then: func(t *testing.T, _, s domain.State) {
			if s.Status != domain.StatusOpen || !s.ClosedAt.IsZero() || s.ClosedReason != "" || s.Reopened != 1 {
				t.Errorf("status %q closed at %v reason %q reopened %d", s.Status, s.ClosedAt, s.ClosedReason, s.Reopened)
			}
			if !s.OpenedAt.Equal(t0) {
				t.Errorf("reopening moved OpenedAt to %v", s.OpenedAt)
			}
		}},
		{name: "case reopened twice", given: reopenedOnce, when: fact("reopen-2", closedAt.AddDate(0, 3, 0), domain.CaseReopened{Trigger: "new_incident"}), then: func(t *testing.T, _, s domain.State) {
			if s.Status != domain.StatusOpen || s.Reopened != 2 {
				t.Errorf("status %q reopened %d", s.Status, s.Reopened)
			}
		}},
		{name: "flag raised", given: base, when: fact("flag", t0, domain.CaseFlagged{FlagID: tid("flag/1"), Kind: "weapons"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "flags", s.Flags, map[uuid.UUID]domain.Flag{tid("flag/1"): {ID: tid("flag/1"), EventID: eid("flag"), Kind: "weapons", Open: true}})
		}},
		{name: "flag resolved", given: facts(base, []domain.Event{fact("flag", t0, domain.CaseFlagged{FlagID: tid("flag/1"), Kind: "weapons"})}),
			when: fact("resolve", t0, domain.FlagResolved{FlagID: tid("flag/1"), Resolution: "seized"}), then: func(t *testing.T, _, s domain.State) {
				same(t, "flags", s.Flags, map[uuid.UUID]domain.Flag{tid("flag/1"): {ID: tid("flag/1"), EventID: eid("flag"), Kind: "weapons", Open: false}})
			}},
	}
	runEvolutions(t, rows)
}

func TestEvolveRisk(t *testing.T) {
	base := baseFacts()
	medium := facts(base, []domain.Event{riskChange("to-medium", monday, "", domain.RiskMedium)})
	friHigh := friday.Add(6 * time.Hour) // Friday 15:00
	high := facts(medium, []domain.Event{riskChange("to-high", friHigh, domain.RiskMedium, domain.RiskHigh)})
	lowered := facts(high, []domain.Event{riskChange("to-medium-2", friHigh.AddDate(0, 0, 10), domain.RiskHigh, domain.RiskMedium)})
	assessment := domain.RiskAssessmentCompleted{AssessmentID: tid("assessment/1"), Instrument: "sara", PartyID: victimID, Informant: "victim", Score: 12,
		Band: domain.RiskMedium, Override: &domain.Override{Band: domain.RiskHigh, Reason: "strangulation"}}
	rows := []evolution{
		{name: "first band", given: base, when: riskChange("to-medium", monday, "", domain.RiskMedium), then: func(t *testing.T, _, s domain.State) {
			same(t, "risk", s.Risk, domain.RiskMedium)
			same(t, "history", s.RiskHistory, []domain.RiskChange{{EventID: eid("to-medium"), At: monday, From: "", To: domain.RiskMedium, Trigger: "assessment"}})
			if len(s.ContactsDue) != 0 {
				t.Errorf("a medium band created contact obligations %+v", s.ContactsDue)
			}
		}},
		{name: "high band on a Friday is due Tuesday", given: medium, when: high[len(high)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "risk", s.Risk, domain.RiskHigh)
			if len(s.RiskHistory) != 2 || s.RiskHistory[1].From != domain.RiskMedium || s.RiskHistory[1].To != domain.RiskHigh {
				t.Errorf("history %+v", s.RiskHistory)
			}
			tuesday := time.Date(2025, 3, 11, 15, 0, 0, 0, time.UTC)
			same(t, "contacts due", s.ContactsDue, []domain.ContactDue{{EventID: eid("to-high"), Reason: "high_risk", Since: friHigh, DueBy: tuesday}})
			if !tuesday.Equal(domain.AddWorkingDays(friHigh, domain.FirstContactDelay)) {
				t.Errorf("DueBy is not AddWorkingDays(at, %d)", domain.FirstContactDelay)
			}
			same(t, "unmet", len(s.UnmetContacts()), 1)
		}},
		{name: "lowering the band keeps the obligation", given: high, when: lowered[len(lowered)-1], then: func(t *testing.T, b, s domain.State) {
			same(t, "risk", s.Risk, domain.RiskMedium)
			same(t, "history length", len(s.RiskHistory), 3)
			same(t, "contacts due", s.ContactsDue, b.ContactsDue)
		}},
		{name: "high again makes a second obligation", given: lowered, when: riskChange("to-high-2", monday.AddDate(0, 1, 0), domain.RiskMedium, domain.RiskHigh), then: func(t *testing.T, _, s domain.State) {
			if len(s.ContactsDue) != 2 || s.ContactsDue[1].EventID != eid("to-high-2") || s.ContactsDue[1].Reason != "high_risk" {
				t.Errorf("contacts due %+v", s.ContactsDue)
			}
		}},
		{name: "high to high makes no obligation", given: high, when: fact("high-high", friHigh.Add(time.Hour), domain.RiskLevelChanged{From: domain.RiskHigh, To: domain.RiskHigh, Trigger: "review"}),
			then: func(t *testing.T, b, s domain.State) {
				same(t, "contacts due", len(s.ContactsDue), len(b.ContactsDue))
			}},
		{name: "assessment summarised with its override", given: medium, when: fact("assess", monday, assessment), then: func(t *testing.T, _, s domain.State) {
			same(t, "assessments", s.Assessments, []domain.Assessment{{ID: tid("assessment/1"), Instrument: "sara", Score: 12, Band: domain.RiskHigh, Overridden: true, At: monday}})
			if !s.Known(tid("assessment/1")) {
				t.Error("assessment id not known")
			}
			same(t, "risk (moved only by RiskLevelChanged)", s.Risk, domain.RiskMedium)
		}},
		{name: "escalated", given: high, when: fact("escalate", friHigh, domain.HighRiskEscalated{To: "table"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "escalated", s.Escalated, true)
		}},
	}
	runEvolutions(t, rows)

	cell := tid("cell/1")
	activated := facts(high, []domain.Event{fact("activate", friHigh, domain.RapidResponseActivated{CellID: cell, Partners: []string{policeAgency, cavacAgency}})})
	withAction := facts(activated, []domain.Event{fact("action-1", friHigh, domain.RapidResponseActionAssigned{CellID: cell, ActionID: tid("action/1"), Action: "visit", Owner: cavacAgency, DueBy: friHigh})})
	runEvolutions(t, []evolution{
		{name: "cell activated", given: high, when: activated[len(activated)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "rapid", s.Rapid, domain.RapidResponse{CellID: cell, Active: true, Partners: []string{policeAgency, cavacAgency}})
		}},
		{name: "cell action", given: withAction, when: fact("action-2", friHigh, domain.RapidResponseActionAssigned{CellID: cell, ActionID: tid("action/2"), Action: "call", Owner: policeAgency, DueBy: friHigh}),
			then: func(t *testing.T, _, s domain.State) {
				same(t, "actions", s.Rapid.Actions, []uuid.UUID{tid("action/1"), tid("action/2")})
			}},
		{name: "cell closed", given: withAction, when: fact("close-cell", friHigh, domain.RapidResponseClosed{CellID: cell, Outcome: "done"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "rapid", s.Rapid, domain.RapidResponse{CellID: cell, Active: false, Partners: []string{policeAgency, cavacAgency}, Actions: []uuid.UUID{tid("action/1")}})
		}},
	})
}

func TestEvolveReferrals(t *testing.T) {
	base := baseFacts()
	ref := tid("referral/1")
	offeredAt, sentAt, answeredAt := monday, monday.Add(2*time.Hour), tuesdayOf(monday)
	offered := facts(base, []domain.Event{fact("offer", offeredAt, domain.ReferralOffered{ReferralID: ref, Destination: "cavac", PartyID: victimID})})
	sent := facts(offered, []domain.Event{fact("send", sentAt, sendPayload(ref, "cavac", cavacAgency, victimID, tid("consent/1")))})
	accepted := facts(sent, []domain.Event{fact("accept", answeredAt, domain.ReferralAccepted{ReferralID: ref})})
	started := facts(accepted, []domain.Event{fact("start", answeredAt.AddDate(0, 0, 3), domain.ServiceStarted{ReferralID: ref})})
	wantSent := domain.Referral{ID: ref, EventID: eid("offer"), Destination: "cavac", Agency: cavacAgency, PartyID: victimID, Status: domain.ReferralSentStatus, WithConsent: true, OfferedAt: offeredAt, SentAt: sentAt}
	moved := func(r domain.Referral, st domain.ReferralStatus, answered time.Time) domain.Referral {
		r.Status, r.AnsweredAt = st, answered
		return r
	}
	check := func(want domain.Referral) func(*testing.T, domain.State, domain.State) {
		return func(t *testing.T, _, s domain.State) { same(t, "referral", s.Referrals[ref], want) }
	}
	rows := []evolution{
		{name: "offered", given: base, when: offered[len(offered)-1],
			then: check(domain.Referral{ID: ref, EventID: eid("offer"), Destination: "cavac", PartyID: victimID, Status: domain.ReferralOfferedStatus, OfferedAt: offeredAt})},
		{name: "declined", given: offered, when: fact("decline", sentAt, domain.ReferralDeclinedByClient{ReferralID: ref}),
			then: check(domain.Referral{ID: ref, EventID: eid("offer"), Destination: "cavac", PartyID: victimID, Status: domain.ReferralDeclinedStatus, OfferedAt: offeredAt})},
		{name: "sent with consent", given: offered, when: sent[len(sent)-1], then: check(wantSent)},
		{name: "sent without offer nor consent", given: base, when: fact("send", sentAt, sendPayload(ref, "shelter", shelterAgency, victimID, uuid.Nil)),
			then: check(domain.Referral{ID: ref, EventID: eid("send"), Destination: "shelter", Agency: shelterAgency, PartyID: victimID, Status: domain.ReferralSentStatus, SentAt: sentAt})},
		{name: "accepted", given: sent, when: accepted[len(accepted)-1], then: check(moved(wantSent, domain.ReferralAcceptedStatus, answeredAt))},
		{name: "rejected", given: sent, when: fact("reject", answeredAt, domain.ReferralRejected{ReferralID: ref, Reason: "full"}), then: check(moved(wantSent, domain.ReferralRejectedStatus, answeredAt))},
		{name: "revoked after sending", given: sent, when: fact("revoke", answeredAt, domain.ReferralRevoked{ReferralID: ref, Reason: "error"}), then: check(moved(wantSent, domain.ReferralRevokedStatus, time.Time{}))},
		{name: "service started", given: accepted, when: started[len(started)-1], then: check(moved(wantSent, domain.ReferralStartedStatus, answeredAt))},
		{name: "service completed", given: started, when: fact("complete", answeredAt.AddDate(0, 1, 0), domain.ServiceCompleted{ReferralID: ref, Outcome: "goals met"}),
			then: check(moved(wantSent, domain.ReferralCompletedStatus, answeredAt))},
	}
	runEvolutions(t, rows)
}

// tuesdayOf is the day after a Monday, same time.
func tuesdayOf(m time.Time) time.Time { return m.AddDate(0, 0, 1) }

func TestEvolveFollowUpsAndConsents(t *testing.T) {
	base := baseFacts()
	fu := tid("follow-up/1")
	due := monday.AddDate(0, 0, 2)
	scheduled := facts(base, []domain.Event{followUpFact("schedule", monday, fu, suspectID, due)})
	attempted := facts(scheduled, []domain.Event{fact("attempt-1", monday.Add(time.Hour), domain.FollowUpAttempted{FollowUpID: fu, Outcome: "no_answer"})})
	open := domain.FollowUp{ID: fu, EventID: eid("schedule"), PartyID: suspectID, Kind: "call", DueBy: due, Assignee: "sw-01", Status: domain.FollowUpOpen, ScheduledAt: monday}
	consent := tid("consent/1")
	recorded := facts(base, []domain.Event{fact("consent", monday, domain.ConsentRecorded{ConsentID: consent, PartyID: victimID, Scope: "sharing", Destination: "cavac", Method: "verbal", ExpiresAt: monday.AddDate(1, 0, 0)})})
	rows := []evolution{
		{name: "follow-up scheduled", given: base, when: scheduled[len(scheduled)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "follow-up", s.FollowUps[fu], open)
			same(t, "open follow-ups", s.OpenFollowUps(), 1)
		}},
		{name: "follow-up attempted twice", given: attempted, when: fact("attempt-2", monday.Add(2*time.Hour), domain.FollowUpAttempted{FollowUpID: fu, Outcome: "left_message"}),
			then: func(t *testing.T, _, s domain.State) {
				want := open
				want.Attempts = 2
				same(t, "follow-up", s.FollowUps[fu], want)
				same(t, "open follow-ups", s.OpenFollowUps(), 1)
			}},
		{name: "follow-up completed", given: attempted, when: fact("complete", monday.Add(3*time.Hour), domain.FollowUpCompleted{FollowUpID: fu}), then: func(t *testing.T, _, s domain.State) {
			want := open
			want.Attempts, want.Status, want.DoneAt = 1, domain.FollowUpDone, monday.Add(3*time.Hour)
			same(t, "follow-up", s.FollowUps[fu], want)
			same(t, "open follow-ups", s.OpenFollowUps(), 0)
		}},
		{name: "follow-up cancelled", given: scheduled, when: fact("cancel", monday.Add(4*time.Hour), domain.FollowUpCancelled{FollowUpID: fu, Reason: "moved"}), then: func(t *testing.T, _, s domain.State) {
			want := open
			want.Status, want.DoneAt = domain.FollowUpDropped, monday.Add(4*time.Hour)
			same(t, "follow-up", s.FollowUps[fu], want)
			same(t, "open follow-ups", s.OpenFollowUps(), 0)
		}},
		{name: "consent recorded", given: base, when: recorded[len(recorded)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "consent", s.Consents[consent], domain.Consent{ID: consent, EventID: eid("consent"), PartyID: victimID, Scope: "sharing", Destination: "cavac", ExpiresAt: monday.AddDate(1, 0, 0), Active: true})
		}},
		{name: "consent withdrawn", given: recorded, when: fact("withdraw", monday, domain.ConsentWithdrawn{ConsentID: consent}), then: func(t *testing.T, _, s domain.State) {
			same(t, "consent", s.Consents[consent], domain.Consent{ID: consent, EventID: eid("consent"), PartyID: victimID, Scope: "sharing", Destination: "cavac", ExpiresAt: monday.AddDate(1, 0, 0), Active: false})
		}},
	}
	runEvolutions(t, rows)
}

func TestEvolveProtection(t *testing.T) {
	base := baseFacts()
	cond := tid("condition/1")
	ends := monday.AddDate(0, 6, 0)
	imposed := facts(base, []domain.Event{fact("impose", monday, conditionsPayload(cond))})
	active := domain.Condition{ID: cond, EventID: eid("impose"), Kind: "undertaking", BoundPartyID: suspectID, Protected: []uuid.UUID{victimID}, NoContact: true, Distance: 300,
		StartsAt: t0, EndsAt: t0.Add(180 * 24 * time.Hour), Active: true}
	b1 := tid("breach/1")
	breachAt := thursday.Add(time.Hour) // Thursday 10:00
	breached := facts(imposed, []domain.Event{fact("breach-1", breachAt, domain.BreachReported{BreachID: b1, ConditionID: cond, Source: "victim"})})
	plan := tid("plan/1")
	planned := facts(base, []domain.Event{fact("plan", monday, domain.SafetyPlanCreated{PlanID: plan, PartyID: victimID, NextReviewBy: monday.AddDate(0, 1, 0)})})
	ev := tid("evidence/1")
	logged := facts(base, []domain.Event{fact("evidence", monday, domain.EvidenceLogged{EvidenceID: ev, MediaRef: "m", SHA256: goodSHA, Custodian: "off-0001"})})
	rows := []evolution{
		{name: "conditions imposed", given: base, when: imposed[len(imposed)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "condition", s.Conditions[cond], active)
			same(t, "active conditions", s.ActiveConditions(), 1)
		}},
		{name: "conditions varied", given: imposed, when: fact("vary", monday, domain.ConditionsVaried{ConditionID: cond, NoContact: ptr(false), DistanceMetres: ptr(1000), EndsAt: ends, Reason: "court"}),
			then: func(t *testing.T, _, s domain.State) {
				want := active
				want.NoContact, want.Distance, want.EndsAt = false, 1000, ends
				same(t, "condition", s.Conditions[cond], want)
			}},
		{name: "conditions varied in distance only", given: imposed, when: fact("vary", monday, domain.ConditionsVaried{ConditionID: cond, DistanceMetres: ptr(0), Reason: "court"}),
			then: func(t *testing.T, _, s domain.State) {
				want := active
				want.Distance = 0
				same(t, "condition", s.Conditions[cond], want)
			}},
		{name: "breach reported on a Thursday is due Monday", given: imposed, when: breached[len(breached)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "breach", s.Breaches[b1], domain.Breach{ID: b1, ConditionID: cond, ReportedAt: breachAt})
			same(t, "breach count", s.Conditions[cond].Breaches, 1)
			same(t, "still active", s.Conditions[cond].Active, true)
			mondayAfter := time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC)
			same(t, "contacts due", s.ContactsDue, []domain.ContactDue{{EventID: eid("breach-1"), Reason: "breach", Since: breachAt, DueBy: mondayAfter}})
		}},
		{name: "second breach", given: breached, when: fact("breach-2", breachAt.AddDate(0, 0, 7), domain.BreachReported{BreachID: tid("breach/2"), ConditionID: cond, Source: "bracelet_alert"}),
			then: func(t *testing.T, _, s domain.State) {
				same(t, "breach count", s.Conditions[cond].Breaches, 2)
				same(t, "contacts due", len(s.ContactsDue), 2)
			}},
		{name: "breach actioned", given: breached, when: fact("action", breachAt, domain.BreachActioned{BreachID: b1, Action: "warrant_requested"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "breach", s.Breaches[b1], domain.Breach{ID: b1, ConditionID: cond, ReportedAt: breachAt, Action: "warrant_requested"})
		}},
		{name: "conditions ended", given: breached, when: fact("end", monday.AddDate(0, 1, 0), domain.ConditionsEnded{ConditionID: cond, Reason: "expired"}), then: func(t *testing.T, _, s domain.State) {
			want := active
			want.Active, want.Breaches = false, 1
			same(t, "condition", s.Conditions[cond], want)
			same(t, "active conditions", s.ActiveConditions(), 0)
		}},
		{name: "safety plan created", given: base, when: planned[len(planned)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "plan", s.SafetyPlans[plan], domain.SafetyPlan{ID: plan, EventID: planned[len(planned)-1].ID, PartyID: victimID, CreatedAt: monday, NextReviewBy: monday.AddDate(0, 1, 0)})
		}},
		{name: "safety plan reviewed without a new date", given: planned, when: fact("review", friday, domain.SafetyPlanReviewed{PlanID: plan, Changes: "new phone"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "plan", s.SafetyPlans[plan], domain.SafetyPlan{ID: plan, EventID: planned[len(planned)-1].ID, PartyID: victimID, CreatedAt: monday, ReviewedAt: friday, NextReviewBy: monday.AddDate(0, 1, 0)})
		}},
		{name: "safety plan reviewed with a new date", given: planned, when: fact("review", friday, domain.SafetyPlanReviewed{PlanID: plan, NextReviewBy: friday.AddDate(0, 2, 0)}), then: func(t *testing.T, _, s domain.State) {
			same(t, "plan", s.SafetyPlans[plan], domain.SafetyPlan{ID: plan, EventID: planned[len(planned)-1].ID, PartyID: victimID, CreatedAt: monday, ReviewedAt: friday, NextReviewBy: friday.AddDate(0, 2, 0)})
		}},
		{name: "evidence logged", given: base, when: logged[len(logged)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "exhibit", s.Exhibits[ev], domain.Exhibit{ID: ev, SHA256: goodSHA, Custodian: "off-0001"})
		}},
		{name: "evidence transferred", given: logged, when: fact("transfer-ev", monday, domain.EvidenceTransferred{EvidenceID: ev, From: "off-0001", To: "property-room"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "exhibit", s.Exhibits[ev], domain.Exhibit{ID: ev, SHA256: goodSHA, Custodian: "property-room", Transfers: 1})
		}},
	}
	runEvolutions(t, rows)
}

func TestEvolveContactsDue(t *testing.T) {
	base := baseFacts()
	friHigh := friday.Add(6 * time.Hour)                   // Friday 15:00
	dueBy := time.Date(2025, 3, 11, 15, 0, 0, 0, time.UTC) // Tuesday 15:00
	high := facts(base, []domain.Event{riskChange("to-high", friHigh, "", domain.RiskHigh)})
	fu, fu2 := tid("follow-up/1"), tid("follow-up/2")
	met := facts(high, []domain.Event{followUpFact("fu-1", friHigh.Add(time.Hour), fu, victimID, dueBy.Add(-time.Hour))})
	breachAt := monday.AddDate(0, 0, 7).Add(time.Hour) // Monday 10 March, 10:00: due Wednesday 12
	cond := tid("condition/1")
	highAndBreach := facts(high, []domain.Event{
		fact("impose", friHigh, conditionsPayload(cond)),
		fact("breach", breachAt, domain.BreachReported{BreachID: tid("breach/1"), ConditionID: cond, Source: "patrol"}),
	})
	metBy := func(want ...uuid.UUID) func(*testing.T, domain.State, domain.State) {
		return func(t *testing.T, _, s domain.State) {
			if len(s.ContactsDue) != len(want) {
				t.Fatalf("%d obligations %+v, want %d", len(s.ContactsDue), s.ContactsDue, len(want))
			}
			unmet := 0
			for i, c := range s.ContactsDue {
				if c.MetBy != want[i] {
					t.Errorf("obligation %d (%s due %v) met by %s, want %s", i, c.Reason, c.DueBy, c.MetBy, want[i])
				}
				if want[i] == uuid.Nil {
					unmet++
				}
			}
			same(t, "unmet contacts", len(s.UnmetContacts()), unmet)
		}
	}
	rows := []evolution{
		{name: "victim follow-up due before the deadline meets it", given: high, when: followUpFact("fu-1", friHigh.Add(time.Hour), fu, victimID, dueBy.Add(-time.Hour)), then: metBy(fu)},
		{name: "victim follow-up due at the deadline meets it", given: high, when: followUpFact("fu-1", friHigh.Add(time.Hour), fu, victimID, dueBy), then: metBy(fu)},
		{name: "victim follow-up due after the deadline does not", given: high, when: followUpFact("fu-1", friHigh.Add(time.Hour), fu, victimID, dueBy.Add(time.Minute)), then: metBy(uuid.Nil)},
		{name: "suspect follow-up does not meet a victim contact", given: high, when: followUpFact("fu-1", friHigh.Add(time.Hour), fu, suspectID, dueBy.Add(-time.Hour)), then: metBy(uuid.Nil)},
		{name: "a met obligation keeps its first follow-up", given: met, when: followUpFact("fu-2", friHigh.Add(2*time.Hour), fu2, victimID, friHigh.Add(3*time.Hour)), then: metBy(fu)},
		{name: "follow-up scheduled before the obligation does not meet it", given: facts(base, []domain.Event{followUpFact("fu-1", friHigh.Add(-time.Hour), fu, victimID, friHigh.Add(time.Hour))}),
			when: riskChange("to-high", friHigh, "", domain.RiskHigh), then: metBy(uuid.Nil)},
		{name: "one follow-up early enough meets both obligations", given: highAndBreach, when: followUpFact("fu-1", breachAt, fu, victimID, dueBy.Add(-time.Hour)), then: metBy(fu, fu)},
		{name: "a follow-up between the deadlines meets only the later one", given: highAndBreach,
			when: followUpFact("fu-1", breachAt, fu, victimID, time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC)), then: metBy(uuid.Nil, fu)},
		{name: "a breach obligation falls due two working days later", given: facts(high, []domain.Event{fact("impose", friHigh, conditionsPayload(cond))}), when: highAndBreach[len(highAndBreach)-1],
			then: func(t *testing.T, _, s domain.State) {
				same(t, "breach obligation", s.ContactsDue[1], domain.ContactDue{EventID: eid("breach"), Reason: "breach", Since: breachAt, DueBy: time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)})
			}},
	}
	runEvolutions(t, rows)
}

func TestEvolveEntries(t *testing.T) {
	base := baseFacts()
	note := factIn("note", monday, domain.CompartmentSocialWork, domain.NoteAdded{NoteID: tid("note/1"), Text: "text"})
	withNote := facts(base, []domain.Event{note})
	corrected := facts(withNote, []domain.Event{factIn("seal", monday, domain.CompartmentSocialWork, domain.EntryCorrected{
		TargetEventID: eid("note"), Changes: []domain.FieldChange{{Field: "text", Value: "x"}}, Reason: "r", NewCompartment: domain.CompartmentSealed})})
	entry := domain.Entry{Type: "case.note_added", Version: 3, Compartment: domain.CompartmentSocialWork}
	changed := func(f func(*domain.Entry)) domain.Entry {
		e := entry
		f(&e)
		return e
	}
	rows := []evolution{
		{name: "note indexed in its envelope's compartment", given: base, when: note, then: func(t *testing.T, _, s domain.State) {
			same(t, "entry", s.Entries[eid("note")], entry)
			if !s.Known(tid("note/1")) {
				t.Error("note id not known")
			}
		}},
		{name: "correction moves the target to its new compartment", given: withNote, when: corrected[len(corrected)-1], then: func(t *testing.T, _, s domain.State) {
			same(t, "target", s.Entries[eid("note")], changed(func(e *domain.Entry) { e.Compartment, e.Corrections = domain.CompartmentSealed, 1 }))
			same(t, "correction entry", s.Entries[eid("seal")], domain.Entry{Type: "case.entry_corrected", Version: 4, Compartment: domain.CompartmentSocialWork, Target: eid("note")})
		}},
		{name: "correction without a compartment keeps it", given: corrected, when: factIn("fix", monday, domain.CompartmentSealed, domain.EntryCorrected{
			TargetEventID: eid("note"), Changes: []domain.FieldChange{{Field: "text", Value: "y"}}, Reason: "r"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "target", s.Entries[eid("note")], changed(func(e *domain.Entry) { e.Compartment, e.Corrections = domain.CompartmentSealed, 2 }))
		}},
		{name: "redaction flags the target", given: withNote, when: fact("redact", monday, domain.EntryRedacted{TargetEventID: eid("note"), Fields: []string{"text"}, LegalBasis: "privacy"}),
			then: func(t *testing.T, _, s domain.State) {
				same(t, "target", s.Entries[eid("note")], changed(func(e *domain.Entry) { e.Redacted = true }))
			}},
		{name: "marking in error flags the target", given: withNote, when: fact("in-error", monday, domain.EntryMarkedInError{TargetEventID: eid("note"), Reason: "wrong file"}),
			then: func(t *testing.T, _, s domain.State) {
				same(t, "target", s.Entries[eid("note")], changed(func(e *domain.Entry) { e.InError = true }))
			}},
		{name: "legal hold placed", given: base, when: fact("hold", monday, domain.LegalHoldPlaced{HoldID: tid("hold/1"), Matter: "m", Scope: "notes"}), then: func(t *testing.T, _, s domain.State) {
			same(t, "holds", s.Holds, map[uuid.UUID]domain.Hold{tid("hold/1"): {ID: tid("hold/1"), EventID: eid("hold"), Matter: "m", Scope: "notes", Active: true}})
		}},
		{name: "legal hold released", given: facts(base, []domain.Event{fact("hold", monday, domain.LegalHoldPlaced{HoldID: tid("hold/1"), Matter: "m", Scope: "notes"})}),
			when: fact("release", monday, domain.LegalHoldReleased{HoldID: tid("hold/1")}), then: func(t *testing.T, _, s domain.State) {
				same(t, "holds", s.Holds, map[uuid.UUID]domain.Hold{tid("hold/1"): {ID: tid("hold/1"), EventID: eid("hold"), Matter: "m", Scope: "notes", Active: false}})
			}},
		{name: "production order kept", given: base, when: fact("order", monday, orderPayload(tid("order/1"))), then: func(t *testing.T, _, s domain.State) {
			same(t, "orders", s.Orders, map[uuid.UUID]domain.ProductionOrderReceived{tid("order/1"): orderPayload(tid("order/1"))})
		}},
		{name: "disclosure id known", given: base, when: fact("disclose", monday, domain.DisclosureProduced{DisclosureID: tid("disclosure/1"), Recipient: "court",
			Items: []domain.DisclosedItem{{EventID: eid("open"), SHA256: goodSHA}}}), then: func(t *testing.T, _, s domain.State) {
			if !s.Known(tid("disclosure/1")) {
				t.Error("disclosure id not known")
			}
		}},
		{name: "an access event changes only the version and the index", given: withNote, when: fact("viewed", monday, domain.RecordViewed{CaseID: caseID, Purpose: "p", Sections: []string{"notes"}}),
			then: func(t *testing.T, b, s domain.State) {
				c := s.Clone()
				c.Version--
				delete(c.Entries, eid("viewed"))
				if !reflect.DeepEqual(c, b) {
					t.Errorf("RecordViewed changed the state beyond version and entries")
				}
			}},
	}
	runEvolutions(t, rows)
}

func TestAddWorkingDays(t *testing.T) {
	at := func(d time.Time) time.Time { return d.Add(5*time.Hour + 30*time.Minute) } // 14:30
	rows := []struct {
		name string
		from time.Time
		n    int
		want time.Time
	}{
		{"Monday plus 2 is Wednesday", at(monday), 2, time.Date(2025, 3, 5, 14, 30, 0, 0, time.UTC)},
		{"Thursday plus 2 is Monday", at(thursday), 2, time.Date(2025, 3, 10, 14, 30, 0, 0, time.UTC)},
		{"Friday plus 1 is Monday", at(friday), 1, time.Date(2025, 3, 10, 14, 30, 0, 0, time.UTC)},
		{"Friday plus 2 is Tuesday", at(friday), 2, time.Date(2025, 3, 11, 14, 30, 0, 0, time.UTC)},
		{"Saturday plus 2 is Tuesday", at(saturday), 2, time.Date(2025, 3, 11, 14, 30, 0, 0, time.UTC)},
		{"Sunday plus 1 is Monday", at(sunday), 1, time.Date(2025, 3, 10, 14, 30, 0, 0, time.UTC)},
		{"Friday plus 5 is next Friday", at(friday), 5, time.Date(2025, 3, 14, 14, 30, 0, 0, time.UTC)},
		{"Wednesday plus 10 spans two weekends", at(monday.AddDate(0, 0, 2)), 10, time.Date(2025, 3, 19, 14, 30, 0, 0, time.UTC)},
		{"zero days is the same instant", at(saturday), 0, at(saturday)},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if got := domain.AddWorkingDays(r.from, r.n); !got.Equal(r.want) {
				t.Errorf("AddWorkingDays(%s %v, %d) = %s %v, want %s %v", r.from.Weekday(), r.from, r.n, got.Weekday(), got, r.want.Weekday(), r.want)
			}
		})
	}
}

// TestEvolveFoldsGeneratedHistories folds generated case lives and checks the
// state against expectations read off the events themselves, without Evolve.
func TestEvolveFoldsGeneratedHistories(t *testing.T) {
	var totals struct{ closed, reopened, referrals, openFollowUps, met, unmet, inError, corrected int }
	for _, seed := range []uint64{1, 2, 3} {
		cases, err := gen.New(seed).Cases(100)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, c := range cases {
			evs := c.Events()
			var s domain.State
			for _, e := range evs {
				s = domain.Evolve(s, e)
			}
			x := expectFromEvents(evs)
			checkExpectation(t, seed, c.ID, s, x)
			if x.status == domain.StatusClosed {
				totals.closed++
			}
			totals.reopened += x.reopened
			totals.referrals += len(x.referrals)
			totals.inError += len(x.inError)
			totals.corrected += len(x.corrections)
			for _, st := range x.followUps {
				if st == domain.FollowUpOpen {
					totals.openFollowUps++
				}
			}
			for _, o := range x.contacts {
				if o.MetBy == uuid.Nil {
					totals.unmet++
				} else {
					totals.met++
				}
			}
		}
	}
	// The check is only worth something if the lives cover these cases. Few
	// obligations are met: the generator schedules its high-risk follow-up
	// two working days after its own clock, minutes after the band changed,
	// so it is always minutes late (see the report); breaches meet some.
	if totals.closed == 0 || totals.reopened == 0 || totals.referrals == 0 || totals.openFollowUps == 0 || totals.met == 0 || totals.unmet == 0 || totals.inError == 0 || totals.corrected == 0 {
		t.Errorf("generated lives too uniform for this test: %+v", totals)
	}
}

type expectation struct {
	version      int64
	status       domain.CaseStatus
	reopened     int
	risk         domain.RiskBand
	riskChanges  int
	assessments  int
	referrals    map[uuid.UUID]domain.ReferralStatus
	followUps    map[uuid.UUID]domain.FollowUpStatus
	attempts     map[uuid.UUID]int
	conditions   map[uuid.UUID]bool
	breaches     map[uuid.UUID]int
	consents     map[uuid.UUID]bool
	flags        map[uuid.UUID]bool
	holds        map[uuid.UUID]bool
	closure      domain.ClosureStatus
	agency       string
	assignee     string
	transfer     uuid.UUID
	arrests      int
	cadRefs      int
	compartments map[uuid.UUID]domain.Compartment
	corrections  map[uuid.UUID]int
	inError      map[uuid.UUID]bool
	redacted     map[uuid.UUID]bool
	contacts     []domain.ContactDue
}

// expectFromEvents reads the expected state off the events: each status is
// the last status event seen, each obligation is met by the first later
// victim follow-up due in time.
func expectFromEvents(evs []domain.Event) expectation {
	x := expectation{
		version: int64(len(evs)), status: domain.StatusNone,
		referrals: map[uuid.UUID]domain.ReferralStatus{}, followUps: map[uuid.UUID]domain.FollowUpStatus{}, attempts: map[uuid.UUID]int{},
		conditions: map[uuid.UUID]bool{}, breaches: map[uuid.UUID]int{}, consents: map[uuid.UUID]bool{}, flags: map[uuid.UUID]bool{},
		holds: map[uuid.UUID]bool{}, compartments: map[uuid.UUID]domain.Compartment{}, corrections: map[uuid.UUID]int{},
		inError: map[uuid.UUID]bool{}, redacted: map[uuid.UUID]bool{},
	}
	victims := map[uuid.UUID]bool{}
	var pendingTo [2]string
	for i, e := range evs {
		x.compartments[e.ID] = e.Meta.Compartment
		switch d := e.Data.(type) {
		case domain.CaseOpened:
			x.status, x.agency = domain.StatusOpen, d.Agency
		case domain.CaseClosed:
			x.status, x.closure = domain.StatusClosed, domain.ClosureNone
		case domain.CaseReopened:
			x.status = domain.StatusOpen
			x.reopened++
		case domain.CallReceived:
			x.cadRefs++
		case domain.ArrestMade:
			x.arrests++
		case domain.PartyIdentified:
			if d.Role == domain.PartyVictim {
				victims[d.PartyID] = true
			}
		case domain.RiskAssessmentCompleted:
			x.assessments++
		case domain.RiskLevelChanged:
			x.risk = d.To
			x.riskChanges++
			if d.To == domain.RiskHigh && d.From != domain.RiskHigh {
				x.contacts = append(x.contacts, obligation(evs, i, "high_risk", victims))
			}
		case domain.BreachReported:
			x.breaches[d.ConditionID]++
			x.contacts = append(x.contacts, obligation(evs, i, "breach", victims))
		case domain.ReferralOffered:
			x.referrals[d.ReferralID] = domain.ReferralOfferedStatus
		case domain.ReferralDeclinedByClient:
			x.referrals[d.ReferralID] = domain.ReferralDeclinedStatus
		case domain.ReferralSent:
			x.referrals[d.ReferralID] = domain.ReferralSentStatus
		case domain.ReferralAccepted:
			x.referrals[d.ReferralID] = domain.ReferralAcceptedStatus
		case domain.ReferralRejected:
			x.referrals[d.ReferralID] = domain.ReferralRejectedStatus
		case domain.ReferralRevoked:
			x.referrals[d.ReferralID] = domain.ReferralRevokedStatus
		case domain.ServiceStarted:
			x.referrals[d.ReferralID] = domain.ReferralStartedStatus
		case domain.ServiceCompleted:
			x.referrals[d.ReferralID] = domain.ReferralCompletedStatus
		case domain.FollowUpScheduled:
			x.followUps[d.FollowUpID] = domain.FollowUpOpen
		case domain.FollowUpAttempted:
			x.attempts[d.FollowUpID]++
		case domain.FollowUpCompleted:
			x.followUps[d.FollowUpID] = domain.FollowUpDone
		case domain.FollowUpCancelled:
			x.followUps[d.FollowUpID] = domain.FollowUpDropped
		case domain.ConditionsImposed:
			x.conditions[d.ConditionID] = true
		case domain.ConditionsEnded:
			x.conditions[d.ConditionID] = false
		case domain.ConsentRecorded:
			x.consents[d.ConsentID] = true
		case domain.ConsentWithdrawn:
			x.consents[d.ConsentID] = false
		case domain.CaseFlagged:
			x.flags[d.FlagID] = true
		case domain.FlagResolved:
			x.flags[d.FlagID] = false
		case domain.LegalHoldPlaced:
			x.holds[d.HoldID] = true
		case domain.LegalHoldReleased:
			x.holds[d.HoldID] = false
		case domain.ClosureRequested:
			x.closure = domain.ClosurePending
		case domain.ClosureApproved:
			x.closure = domain.ClosureApprovedS
		case domain.ClosureRejected:
			x.closure = domain.ClosureRejectedS
		case domain.CaseAssigned:
			x.assignee, x.agency = d.Assignee, d.Agency
		case domain.TransferRequested:
			x.transfer, pendingTo = d.TransferID, [2]string{d.ToAgency, d.ToUser}
		case domain.TransferAccepted:
			x.agency, x.assignee = pendingTo[0], pendingTo[1]
			x.transfer = uuid.Nil
		case domain.TransferRejected:
			x.transfer = uuid.Nil
		case domain.EntryCorrected:
			x.corrections[d.TargetEventID]++
			if d.NewCompartment != "" {
				x.compartments[d.TargetEventID] = d.NewCompartment
			}
		case domain.EntryRedacted:
			x.redacted[d.TargetEventID] = true
		case domain.EntryMarkedInError:
			x.inError[d.TargetEventID] = true
		}
	}
	return x
}

// obligation is the contact owed after evs[i], met by the first later
// follow-up of a victim due no later than two working days after it; its
// earliest answer is the later victim follow-up due soonest (first wins).
func obligation(evs []domain.Event, i int, reason string, victims map[uuid.UUID]bool) domain.ContactDue {
	since := evs[i].Meta.OccurredAt
	o := domain.ContactDue{EventID: evs[i].ID, Reason: reason, Since: since, DueBy: domain.AddWorkingDays(since, 2)}
	var due []domain.FollowUpScheduled
	for _, e := range evs[i+1:] {
		if f, ok := e.Data.(domain.FollowUpScheduled); ok && victims[f.PartyID] && !f.DueBy.Before(since) {
			due = append(due, f)
		}
	}
	for _, f := range due {
		if !f.DueBy.After(o.DueBy) {
			o.MetBy = f.FollowUpID
			break
		}
	}
	if len(due) > 0 {
		first := slices.MinFunc(due, func(a, b domain.FollowUpScheduled) int { return a.DueBy.Compare(b.DueBy) })
		o.Earliest, o.EarliestID = first.DueBy, first.FollowUpID
	}
	return o
}

func checkExpectation(t *testing.T, seed uint64, id uuid.UUID, s domain.State, x expectation) {
	t.Helper()
	fail := func(what string, got, want any) {
		t.Helper()
		t.Errorf("seed %d case %s: %s = %v, want %v", seed, id, what, got, want)
	}
	if s.Version != x.version {
		fail("version", s.Version, x.version)
	}
	if s.Status != x.status {
		fail("status", s.Status, x.status)
	}
	if (s.Status == domain.StatusClosed) == s.ClosedAt.IsZero() {
		fail("closed at", s.ClosedAt, "set iff closed")
	}
	if s.Reopened != x.reopened {
		fail("reopened", s.Reopened, x.reopened)
	}
	if s.Risk != x.risk {
		fail("risk", s.Risk, x.risk)
	}
	if len(s.RiskHistory) != x.riskChanges {
		fail("risk history length", len(s.RiskHistory), x.riskChanges)
	}
	if len(s.Assessments) != x.assessments {
		fail("assessments", len(s.Assessments), x.assessments)
	}
	if len(s.CADRefs) != x.cadRefs || s.Arrests != x.arrests {
		fail("cad refs, arrests", [2]int{len(s.CADRefs), s.Arrests}, [2]int{x.cadRefs, x.arrests})
	}
	if s.Closure.Status != x.closure {
		fail("closure", s.Closure.Status, x.closure)
	}
	if s.Agency != x.agency || s.Assignee != x.assignee {
		fail("agency/assignee", s.Agency+"/"+s.Assignee, x.agency+"/"+x.assignee)
	}
	switch {
	case x.transfer == uuid.Nil && s.Transfer != nil:
		fail("transfer", s.Transfer.ID, "none")
	case x.transfer != uuid.Nil && (s.Transfer == nil || s.Transfer.ID != x.transfer):
		fail("transfer", s.Transfer, x.transfer)
	}

	if len(s.Referrals) != len(x.referrals) {
		fail("referrals", len(s.Referrals), len(x.referrals))
	}
	for rid, st := range x.referrals {
		if s.Referrals[rid].Status != st {
			fail("referral "+rid.String(), s.Referrals[rid].Status, st)
		}
	}
	open := 0
	for fid, st := range x.followUps {
		if s.FollowUps[fid].Status != st || s.FollowUps[fid].Attempts != x.attempts[fid] {
			fail("follow-up "+fid.String(), s.FollowUps[fid], st)
		}
		if st == domain.FollowUpOpen {
			open++
		}
	}
	if len(s.FollowUps) != len(x.followUps) || s.OpenFollowUps() != open {
		fail("follow-ups, open", [2]int{len(s.FollowUps), s.OpenFollowUps()}, [2]int{len(x.followUps), open})
	}
	active := 0
	for cid, on := range x.conditions {
		if s.Conditions[cid].Active != on || s.Conditions[cid].Breaches != x.breaches[cid] {
			fail("condition "+cid.String(), s.Conditions[cid], on)
		}
		if on {
			active++
		}
	}
	if s.ActiveConditions() != active {
		fail("active conditions", s.ActiveConditions(), active)
	}
	for kid, on := range x.consents {
		if s.Consents[kid].Active != on {
			fail("consent "+kid.String(), s.Consents[kid].Active, on)
		}
	}
	for fid, on := range x.flags {
		if s.Flags[fid].Open != on {
			fail("flag "+fid.String(), s.Flags[fid].Open, on)
		}
	}
	for hid, on := range x.holds {
		if s.Holds[hid].Active != on {
			fail("hold "+hid.String(), s.Holds[hid].Active, on)
		}
	}
	if len(s.Consents) != len(x.consents) || len(s.Flags) != len(x.flags) || len(s.Holds) != len(x.holds) {
		fail("consents/flags/holds", [3]int{len(s.Consents), len(s.Flags), len(s.Holds)}, [3]int{len(x.consents), len(x.flags), len(x.holds)})
	}

	if len(s.Entries) != len(x.compartments) {
		fail("entries", len(s.Entries), len(x.compartments))
	}
	for eid, comp := range x.compartments {
		e := s.Entries[eid]
		if e.Compartment != comp || e.Corrections != x.corrections[eid] || e.InError != x.inError[eid] || e.Redacted != x.redacted[eid] {
			fail("entry "+eid.String(), e, []any{comp, x.corrections[eid], x.inError[eid], x.redacted[eid]})
		}
	}
	if !reflect.DeepEqual(s.ContactsDue, x.contacts) {
		fail("contacts due", s.ContactsDue, x.contacts)
	}
}

// TestHoldsPersonal: the types with a personal field, nested or listed,
// are known as such, and the others are not.
func TestHoldsPersonal(t *testing.T) {
	for typ, want := range map[string]bool{
		"case.note_added":                true,
		"case.party_identified":          true, // safe_contact[].details
		"case.safety_plan_created":       true, // safe_contacts[]
		"case.entry_corrected":           true, // changes[].value
		"case.opened":                    false,
		"case.risk_assessment_completed": true,  // override.reason, free text
		"case.follow_up_completed":       true,  // next_step, free text
		"case.conditions_imposed":        false, // codes, dates and ids only
		"case.no_such_type":              false,
	} {
		if domain.Spec(typ) == nil && typ != "case.no_such_type" {
			t.Fatalf("%s is not in the catalogue", typ)
		}
		if got := domain.HoldsPersonal(typ); got != want {
			t.Errorf("HoldsPersonal(%s) = %v, want %v", typ, got, want)
		}
	}
}
