package domain_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// Given/when/then tables over Decide. A scenario folds its given commands,
// each accepted in turn, through Decide and Evolve; decides the when command
// on the resulting state; then compares the events (payloads whole, with
// their envelope) or the refusal (sentinel, field, no personal value).

// ---- fixed values ----

// Monday 3 March 2025, 09:00 UTC: every scenario happens around it.
var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// recordLag is how long after occurred_at a command is recorded, unless a
// scenario says otherwise.
const recordLag = time.Minute

// piiMarker is personal data put in refused commands; no error may repeat it.
const piiMarker = "Jane Doe 514-555-0199"

const (
	policeAgency  = "police-lavallee"
	shelterAgency = "shelter-maison-aube"
	cavacAgency   = "cavac-lavallee"
	progAgency    = "prog-option-hommes"
	goodSHA       = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

// tid is a fixed uuid (v5) for a name.
func tid(name string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://caseledger.test/"+name))
}

// cmdID is the command id of a command key; evID the id of its i-th event.
func cmdID(key string) uuid.UUID       { return tid("command/" + key) }
func evID(key string, i int) uuid.UUID { return domain.EventID(cmdID(key), i) }

var (
	caseID      = tid("case")
	otherCaseID = tid("other-case")
	victimID    = tid("party/victim")
	suspectID   = tid("party/suspect")
	childID     = tid("party/child")
	strangerID  = tid("party/stranger")

	officer      = domain.Actor{UserID: "off-0001", Role: domain.RoleOfficer, Agency: policeAgency}
	investigator = domain.Actor{UserID: "inv-0001", Role: domain.RoleInvestigator, Agency: policeAgency}
	worker       = domain.Actor{UserID: "sw-01", Role: domain.RoleSocialWorker, Agency: policeAgency}
	supervisor   = domain.Actor{UserID: "sup-01", Role: domain.RoleSupervisor, Agency: policeAgency}
	auditor      = domain.Actor{UserID: "aud-01", Role: domain.RoleAuditor, Agency: policeAgency}
	admin        = domain.Actor{UserID: "adm-01", Role: domain.RoleAdmin, Agency: policeAgency}
	cad          = domain.Actor{UserID: "cad", Role: domain.RoleSystem, Agency: policeAgency}
	shelterDesk  = domain.Actor{UserID: "intake-shelter", Role: domain.RolePartner, Agency: shelterAgency}
	cavacDesk    = domain.Actor{UserID: "intake-cavac", Role: domain.RolePartner, Agency: cavacAgency}
)

// hdr is the header of the command key, by a, at t0.
func hdr(a domain.Actor, key string) domain.CommandHeader { return hdrAt(a, key, t0) }

func hdrAt(a domain.Actor, key string, at time.Time) domain.CommandHeader {
	return domain.CommandHeader{CaseID: caseID, CommandID: cmdID(key), Actor: a, OccurredAt: at, SourceSystem: "test-suite"}
}

// hdrIn is hdr with a compartment asked for in the header.
func hdrIn(a domain.Actor, key string, c domain.Compartment) domain.CommandHeader {
	h := hdr(a, key)
	h.Compartment = c
	return h
}

// ---- command builders for histories ----

func openCase() domain.Command {
	return domain.OpenCase{CommandHeader: hdr(cad, "open"), CaseOpened: domain.CaseOpened{Module: "victim_support", Agency: policeAgency}}
}

func identify(key string, party uuid.UUID, person string, role domain.PartyRole) domain.IdentifyParty {
	return domain.IdentifyParty{CommandHeader: hdr(officer, key), PartyIdentified: domain.PartyIdentified{
		PartyID: party, PersonID: person, Role: role, Relationship: "spouse", Cohabiting: true, ChildrenInCommon: 1, Language: "fr"}}
}

func opened() []domain.Command { return []domain.Command{openCase()} }

// base is an open case with a victim, a suspect and a child.
func base() []domain.Command {
	return []domain.Command{
		openCase(),
		identify("party-victim", victimID, "MNI-0000001", domain.PartyVictim),
		identify("party-suspect", suspectID, "MNI-0000002", domain.PartySuspect),
		identify("party-child", childID, "MNI-0000003", domain.PartyChild),
	}
}

// with returns h followed by more, never sharing h's array.
func with(h []domain.Command, more ...domain.Command) []domain.Command {
	return append(slices.Clip(h), more...)
}

func receiveCall(key, cadRef string) domain.ReceiveCall {
	return domain.ReceiveCall{CommandHeader: hdr(cad, key), CallReceived: domain.CallReceived{
		CADRef: cadRef, Channel: "911", Address: "12 rue des Érables", NatureCode: "VC-01", Priority: 1, ConjugalContext: true}}
}

func assess(key string, inst domain.Instrument, score int, band domain.RiskBand, ov *domain.Override) domain.CompleteRiskAssessment {
	return domain.CompleteRiskAssessment{CommandHeader: hdr(officer, key), RiskAssessmentCompleted: domain.RiskAssessmentCompleted{
		AssessmentID: tid("assessment/" + key), Instrument: inst, InstrumentVersion: "2", PartyID: victimID,
		Informant: "police_records", Score: score, Band: band, Override: ov}}
}

// Assessments moving the case to a band from unknown.
func assessHigh() domain.Command {
	return assess("assess-high", domain.InstrumentODARA, 8, domain.RiskHigh, nil)
}
func assessMedium() domain.Command {
	return assess("assess-medium", domain.InstrumentODARA, 4, domain.RiskMedium, nil)
}
func assessLow() domain.Command {
	return assess("assess-low", domain.InstrumentODARA, 1, domain.RiskLow, nil)
}

func highRisk() []domain.Command { return with(base(), assessHigh()) }

func conditionsPayload(cond uuid.UUID) domain.ConditionsImposed {
	return domain.ConditionsImposed{ConditionID: cond, Kind: "undertaking", BoundPartyID: suspectID, ProtectedPartyIDs: []uuid.UUID{victimID},
		NoContact: true, DistanceMetres: 300, WeaponsProhibited: true, Issuer: "officer-in-charge", StartsAt: t0, EndsAt: t0.Add(180 * 24 * time.Hour)}
}

func impose(key string, cond uuid.UUID) domain.ImposeConditions {
	return domain.ImposeConditions{CommandHeader: hdr(officer, key), ConditionsImposed: conditionsPayload(cond)}
}

func endConditions(key string, cond uuid.UUID) domain.EndConditions {
	return domain.EndConditions{CommandHeader: hdr(officer, key), ConditionsEnded: domain.ConditionsEnded{ConditionID: cond, Reason: "expired"}}
}

func reportBreach(key string, breach, cond uuid.UUID) domain.ReportBreach {
	return domain.ReportBreach{CommandHeader: hdr(officer, key), BreachReported: domain.BreachReported{BreachID: breach, ConditionID: cond, Source: "victim"}}
}

func actionBreach(key string, breach uuid.UUID) domain.ActionBreach {
	return domain.ActionBreach{CommandHeader: hdr(officer, key), BreachActioned: domain.BreachActioned{BreachID: breach, Action: "arrest"}}
}

func recordConsent(key string, consent, party uuid.UUID, dest domain.Destination, agency string) domain.RecordConsent {
	return domain.RecordConsent{CommandHeader: hdr(worker, key), ConsentRecorded: domain.ConsentRecorded{
		ConsentID: consent, PartyID: party, Scope: domain.ConsentSharing, Destination: dest, Agency: agency, FormVersion: "2024-03", Method: "written"}}
}

func withdrawConsent(key string, consent uuid.UUID) domain.WithdrawConsent {
	return domain.WithdrawConsent{CommandHeader: hdr(worker, key), ConsentWithdrawn: domain.ConsentWithdrawn{ConsentID: consent}}
}

func offer(key string, ref uuid.UUID, dest domain.Destination, party uuid.UUID) domain.OfferReferral {
	return domain.OfferReferral{CommandHeader: hdr(worker, key), ReferralOffered: domain.ReferralOffered{ReferralID: ref, Destination: dest, PartyID: party}}
}

func sendPayload(ref uuid.UUID, dest domain.Destination, agency string, party, consent uuid.UUID) domain.ReferralSent {
	return domain.ReferralSent{ReferralID: ref, Destination: dest, Agency: agency, PartyID: party, ConsentID: consent, DataShared: []string{"identity", "risk_band"}}
}

func send(key string, ref uuid.UUID, dest domain.Destination, agency string, party, consent uuid.UUID) domain.SendReferral {
	return domain.SendReferral{CommandHeader: hdr(worker, key), ReferralSent: sendPayload(ref, dest, agency, party, consent)}
}

func acceptRef(key string, a domain.Actor, ref uuid.UUID) domain.AcceptReferral {
	return domain.AcceptReferral{CommandHeader: hdr(a, key), ReferralAccepted: domain.ReferralAccepted{ReferralID: ref}}
}

func startService(key string, a domain.Actor, ref uuid.UUID) domain.StartService {
	return domain.StartService{CommandHeader: hdr(a, key), ServiceStarted: domain.ServiceStarted{ReferralID: ref}}
}

func declineRef(key string, ref uuid.UUID) domain.RecordReferralDeclined {
	return domain.RecordReferralDeclined{CommandHeader: hdr(worker, key), ReferralDeclinedByClient: domain.ReferralDeclinedByClient{ReferralID: ref, Reason: "not ready"}}
}

var (
	consentShelter = tid("consent/shelter")
	refShelter     = tid("referral/shelter")
)

// shelterSent: the victim consented to the shelter, was offered it and the
// referral was sent to the shelter's agency.
func shelterSent() []domain.Command {
	return with(base(),
		recordConsent("consent-shelter", consentShelter, victimID, "shelter", ""),
		offer("offer-shelter", refShelter, "shelter", victimID),
		send("send-shelter", refShelter, "shelter", shelterAgency, victimID, consentShelter))
}

// cavacAndShelterSent: shelterSent, and a referral of the victim to the
// CAVAC too, so that both partner agencies are addressed on the case.
func cavacAndShelterSent() []domain.Command {
	return with(shelterSent(),
		recordConsent("consent-cavac", tid("consent/cavac"), victimID, "cavac", ""),
		offer("offer-cavac", tid("referral/cavac"), "cavac", victimID),
		send("send-cavac", tid("referral/cavac"), "cavac", cavacAgency, victimID, tid("consent/cavac")))
}

func schedule(key string, fu, party uuid.UUID, due time.Time) domain.ScheduleFollowUp {
	return domain.ScheduleFollowUp{CommandHeader: hdr(worker, key), FollowUpScheduled: domain.FollowUpScheduled{
		FollowUpID: fu, PartyID: party, Kind: "call", DueBy: due, Assignee: worker.UserID}}
}

func completeFollowUp(key string, fu uuid.UUID) domain.CompleteFollowUp {
	return domain.CompleteFollowUp{CommandHeader: hdr(worker, key), FollowUpCompleted: domain.FollowUpCompleted{FollowUpID: fu, NextStep: "continue support"}}
}

func addNote(key string, h domain.CommandHeader, note uuid.UUID, text string) domain.AddNote {
	return domain.AddNote{CommandHeader: h, NoteAdded: domain.NoteAdded{NoteID: note, Text: text}}
}

// swNote is a note by a social worker: it lands in social_work.
func swNote() domain.Command {
	return addNote("note-sw", hdr(worker, "note-sw"), tid("note/sw"), "Client is staying with her sister.")
}

// sealedNote is a note its author sealed.
func sealedNote() domain.Command {
	return addNote("note-sealed", hdrIn(officer, "note-sealed", domain.CompartmentSealed), tid("note/sealed"), "Source protected.")
}

func closeCase(key string, a domain.Actor, why string) domain.CloseCase {
	return domain.CloseCase{CommandHeader: hdr(a, key), CaseClosed: domain.CaseClosed{Reason: "risk_reduced", Justification: why}}
}

// closed is base, closed with nothing open.
func closed() []domain.Command { return with(base(), closeCase("close", worker, "")) }

func requestClosure(key string) domain.RequestClosure {
	return domain.RequestClosure{CommandHeader: hdr(worker, key), ClosureRequested: domain.ClosureRequested{Reason: "risk_reduced"}}
}

func approveClosure(key string, a domain.Actor) domain.ApproveClosure {
	return domain.ApproveClosure{CommandHeader: hdr(a, key), ClosureApproved: domain.ClosureApproved{Comment: "risk managed by partners"}}
}

func rejectClosure(key string, a domain.Actor) domain.RejectClosure {
	return domain.RejectClosure{CommandHeader: hdr(a, key), ClosureRejected: domain.ClosureRejected{Reason: "bracelet still active"}}
}

func placeHold(key string, hold uuid.UUID, scope domain.HoldScope) domain.PlaceLegalHold {
	return domain.PlaceLegalHold{CommandHeader: hdr(supervisor, key), LegalHoldPlaced: domain.LegalHoldPlaced{HoldID: hold, Matter: "500-01-000123-25", Scope: scope}}
}

func releaseHold(key string, hold uuid.UUID) domain.ReleaseLegalHold {
	return domain.ReleaseLegalHold{CommandHeader: hdr(supervisor, key), LegalHoldReleased: domain.LegalHoldReleased{HoldID: hold, Reason: "matter concluded"}}
}

func orderPayload(order uuid.UUID) domain.ProductionOrderReceived {
	return domain.ProductionOrderReceived{OrderID: order, Court: "Cour du Québec", FileRef: "500-01-000123-25", Scope: "police file", IssuedAt: t0.Add(-24 * time.Hour)}
}

func receiveOrder(key string, order uuid.UUID) domain.ReceiveProductionOrder {
	return domain.ReceiveProductionOrder{CommandHeader: hdr(officer, key), ProductionOrderReceived: orderPayload(order)}
}

func disclose(key string, a domain.Actor, disclosure, order uuid.UUID, targets ...uuid.UUID) domain.ProduceDisclosure {
	items := make([]domain.DisclosedItem, len(targets))
	for i, e := range targets {
		items[i] = domain.DisclosedItem{EventID: e, SHA256: goodSHA}
	}
	return domain.ProduceDisclosure{CommandHeader: hdr(a, key), DisclosureProduced: domain.DisclosureProduced{DisclosureID: disclosure, Recipient: "prosecutor", OrderID: order, Items: items}}
}

func logEvidence(key string, ev uuid.UUID, custodian string) domain.LogEvidence {
	return domain.LogEvidence{CommandHeader: hdr(officer, key), EvidenceLogged: domain.EvidenceLogged{
		EvidenceID: ev, Description: "photographs of injuries", MediaRef: "dems://exhibits/1", SHA256: goodSHA, Custodian: custodian}}
}

func transferEvidence(key string, ev uuid.UUID, from, to string) domain.TransferEvidence {
	return domain.TransferEvidence{CommandHeader: hdr(officer, key), EvidenceTransferred: domain.EvidenceTransferred{EvidenceID: ev, From: from, To: to, Reason: "storage"}}
}

func requestTransfer(key string, tr uuid.UUID) domain.RequestTransfer {
	return domain.RequestTransfer{CommandHeader: hdr(worker, key), TransferRequested: domain.TransferRequested{TransferID: tr, ToAgency: "police-riviere", ToUser: "sw-r1", Reason: "victim moved"}}
}

func acceptTransfer(key string, tr uuid.UUID) domain.AcceptTransfer {
	return domain.AcceptTransfer{CommandHeader: hdr(supervisor, key), TransferAccepted: domain.TransferAccepted{TransferID: tr}}
}

func activateCell(key string, cell uuid.UUID) domain.ActivateRapidResponse {
	return domain.ActivateRapidResponse{CommandHeader: hdr(supervisor, key), RapidResponseActivated: domain.RapidResponseActivated{CellID: cell, Partners: []string{policeAgency, cavacAgency}}}
}

func closeCell(key string, cell uuid.UUID) domain.CloseRapidResponse {
	return domain.CloseRapidResponse{CommandHeader: hdr(supervisor, key), RapidResponseClosed: domain.RapidResponseClosed{CellID: cell, Outcome: "actions completed"}}
}

func assignAction(key string, cell, action uuid.UUID) domain.AssignRapidResponseAction {
	return domain.AssignRapidResponseAction{CommandHeader: hdr(supervisor, key), RapidResponseActionAssigned: domain.RapidResponseActionAssigned{
		CellID: cell, ActionID: action, Action: "safety visit", Owner: cavacAgency, DueBy: t0.Add(48 * time.Hour)}}
}

func flagCase(key string, flag uuid.UUID) domain.FlagCase {
	return domain.FlagCase{CommandHeader: hdr(officer, key), CaseFlagged: domain.CaseFlagged{FlagID: flag, Kind: "weapons", Message: "hunting rifle at home"}}
}

func resolveFlag(key string, flag uuid.UUID) domain.ResolveFlag {
	return domain.ResolveFlag{CommandHeader: hdr(officer, key), FlagResolved: domain.FlagResolved{FlagID: flag, Resolution: "weapons seized"}}
}

func createPlan(key string, plan uuid.UUID) domain.CreateSafetyPlan {
	return domain.CreateSafetyPlan{CommandHeader: hdr(worker, key), SafetyPlanCreated: domain.SafetyPlanCreated{
		PlanID: plan, PartyID: victimID, SafeContacts: []string{"sister"}, ShelterOption: true, TechnologySafety: true, NextReviewBy: t0.Add(30 * 24 * time.Hour)}}
}

func correct(h domain.CommandHeader, target uuid.UUID, newComp domain.Compartment) domain.CorrectEntry {
	return domain.CorrectEntry{CommandHeader: h, EntryCorrected: domain.EntryCorrected{
		TargetEventID: target, Changes: []domain.FieldChange{{Field: "text", Value: "Client is staying with her brother."}}, Reason: "wrong relative", NewCompartment: newComp}}
}

func redact(key string, target uuid.UUID) domain.RedactEntry {
	return domain.RedactEntry{CommandHeader: hdr(supervisor, key), EntryRedacted: domain.EntryRedacted{TargetEventID: target, Fields: []string{"text"}, LegalBasis: "third-party information"}}
}

func markInError(key string, a domain.Actor, target uuid.UUID) domain.MarkEntryInError {
	return domain.MarkEntryInError{CommandHeader: hdr(a, key), EntryMarkedInError: domain.EntryMarkedInError{TargetEventID: target, Reason: "entered on the wrong file"}}
}

func events(ps ...domain.EventData) []domain.EventData { return ps }

func ptr[T any](v T) *T { return &v }

// ---- the scenario runner ----

type scenario struct {
	name  string
	given []domain.Command // accepted in order
	when  domain.Command
	now   time.Time // recording time; zero: when's occurred_at plus recordLag

	// Accepted: the payloads expected, in order, and the compartment every
	// one of them is recorded in.
	then []domain.EventData
	comp domain.Compartment

	// Refused: the sentinel, and the FieldError's field ("" when Decide
	// returns the sentinel without a field, anyField when any field will do).
	err   error
	field string
}

// anyField accepts a *FieldError naming any field.
const anyField = "*"

// fold decides and evolves each given command in turn; every one must be
// accepted and have a command id of its own.
func fold(t *testing.T, given []domain.Command) domain.State {
	t.Helper()
	var s domain.State
	seen := map[uuid.UUID]int{}
	for i, c := range given {
		h := c.Head()
		if j, dup := seen[h.CommandID]; dup {
			t.Fatalf("given[%d] (%s) reuses the command id of given[%d]", i, domain.CommandName(c), j)
		}
		seen[h.CommandID] = i
		evs, err := domain.Decide(s, c, h.OccurredAt.Add(recordLag))
		if err != nil {
			t.Fatalf("given[%d] (%s) refused: %v", i, domain.CommandName(c), err)
		}
		for _, e := range evs {
			s = domain.Evolve(s, e)
		}
	}
	return s
}

// run plays a scenario and returns the events decided (nil when refused).
func run(t *testing.T, sc scenario) []domain.Event {
	t.Helper()
	s := fold(t, sc.given)
	before := s.Clone()
	now := sc.now
	if now.IsZero() {
		now = sc.when.Head().OccurredAt.Add(recordLag)
	}
	got, err := domain.Decide(s, sc.when, now)
	if !reflect.DeepEqual(s, before) {
		t.Errorf("Decide modified the state it was given")
	}
	if sc.err != nil {
		checkRefusal(t, got, err, sc.err, sc.field)
		return nil
	}
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	checkEvents(t, sc.when.Head(), now, got, sc.then, sc.comp)
	again, err := domain.Decide(s, sc.when, now)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Errorf("deciding the same command again gave other events (err %v)", err)
	}
	for _, e := range got {
		s = domain.Evolve(s, e)
	}
	if want := before.Version + int64(len(got)); s.Version != want {
		t.Errorf("version after folding the decision: %d, want %d", s.Version, want)
	}
	return got
}

func checkRefusal(t *testing.T, got []domain.Event, err, want error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted (%d events), want %v", len(got), want)
	}
	if got != nil {
		t.Errorf("refusal came with %d events", len(got))
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q, want errors.Is %q", err, want)
	}
	var fe *domain.FieldError
	switch {
	case field == "" && errors.As(err, &fe):
		t.Errorf("error names field %q, want the bare sentinel", fe.Field)
	case field != "" && !errors.As(err, &fe):
		t.Errorf("error %q is not a *FieldError, want field %q", err, field)
	case field != "" && field != anyField && fe.Field != field:
		t.Errorf("error names field %q, want %q (%v)", fe.Field, field, err)
	case field != "" && !errors.Is(fe.Err, want):
		t.Errorf("FieldError wraps %v, want %v", fe.Err, want)
	}
	if strings.Contains(err.Error(), piiMarker) || strings.Contains(err.Error(), "514-555") {
		t.Errorf("error repeats a personal value: %q", err)
	}
}

func checkEvents(t *testing.T, h domain.CommandHeader, now time.Time, got []domain.Event, want []domain.EventData, comp domain.Compartment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events %v, want %d", len(got), typesOf(got), len(want))
	}
	corr := h.CorrelationID
	if corr == uuid.Nil {
		corr = h.CommandID
	}
	for i, e := range got {
		if reflect.TypeOf(e.Data) != reflect.TypeOf(want[i]) {
			t.Errorf("event %d is a %T, want %T", i, e.Data, want[i])
			continue
		}
		if !reflect.DeepEqual(e.Data, want[i]) {
			t.Errorf("event %d payload\n got %+v\nwant %+v", i, e.Data, want[i])
		}
		if e.Type() == "" {
			t.Errorf("event %d: %T is not registered", i, e.Data)
		}
		if e.ID != domain.EventID(h.CommandID, i) {
			t.Errorf("event %d id %s, want EventID(command, %d)", i, e.ID, i)
		}
		if e.CaseID != h.CaseID {
			t.Errorf("event %d case %s, want %s", i, e.CaseID, h.CaseID)
		}
		m := e.Meta
		if m.Compartment != comp {
			t.Errorf("event %d (%s) in compartment %q, want %q", i, e.Type(), m.Compartment, comp)
		}
		if m.Actor != h.Actor || !m.OccurredAt.Equal(h.OccurredAt) || !m.RecordedAt.Equal(now) || m.SourceSystem != h.SourceSystem {
			t.Errorf("event %d envelope %+v does not carry the header %+v recorded at %v", i, m, h, now)
		}
		if m.CausationID != h.CommandID || m.CorrelationID != corr {
			t.Errorf("event %d causation %s correlation %s, want %s and %s", i, m.CausationID, m.CorrelationID, h.CommandID, corr)
		}
	}
}

func typesOf(evs []domain.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type()
	}
	return out
}

func runAll(t *testing.T, rows []scenario) {
	t.Helper()
	names := map[string]bool{}
	for _, sc := range rows {
		if names[sc.name] {
			t.Errorf("two rows named %q", sc.name)
		}
		names[sc.name] = true
		t.Run(sc.name, func(t *testing.T) { run(t, sc) })
	}
}

// ---- accepted: one row per command ----

func acceptedRows() map[string]scenario {
	rows := map[string]scenario{}
	add := func(sc scenario) {
		name := domain.CommandName(sc.when)
		if _, dup := rows[name]; dup {
			panic("two accepted rows for " + name)
		}
		sc.name = name
		rows[name] = sc
	}

	// incident
	opening := domain.CaseOpened{Module: "joint", Agency: policeAgency, SourceIncidents: []string{"CAD-2025-000001"}}
	add(scenario{when: domain.OpenCase{CommandHeader: hdr(cad, "w-open"), CaseOpened: opening}, then: events(opening), comp: domain.CompartmentShared})

	call := domain.CallReceived{CADRef: "CAD-2025-000002", Channel: "walk_in", Address: "12 rue des Érables", NatureCode: "VC-02", Priority: 2, ConjugalContext: true}
	add(scenario{given: opened(), when: domain.ReceiveCall{CommandHeader: hdr(cad, "w-call"), CallReceived: call}, then: events(call), comp: domain.CompartmentPolice})

	history := domain.AddressHistoryChecked{PriorCalls: 3, PersonsChecked: []string{"MNI-0000001"}}
	add(scenario{given: opened(), when: domain.CheckAddressHistory{CommandHeader: hdr(cad, "w-history"), AddressHistoryChecked: history}, then: events(history), comp: domain.CompartmentPolice})

	interv := domain.InterventionRecorded{Units: []string{"21-3"}, ArrivedAt: t0.Add(-time.Hour), ClearedAt: t0, Actions: []domain.InterventionAction{"separation", "arrest"}}
	add(scenario{given: opened(), when: domain.RecordIntervention{CommandHeader: hdr(officer, "w-interv"), InterventionRecorded: interv}, then: events(interv), comp: domain.CompartmentPolice})

	party := domain.PartyIdentified{PartyID: victimID, PersonID: "MNI-0000001", Role: "victim", Relationship: "ex_spouse", ChildrenInCommon: 2, Language: "fr",
		SafeContact: []domain.SafeContact{{Method: "sms", Details: "cell", Hours: "weekdays 9-17"}}}
	add(scenario{given: opened(), when: domain.IdentifyParty{CommandHeader: hdr(officer, "w-party"), PartyIdentified: party}, then: events(party), comp: domain.CompartmentShared})

	stmt := domain.StatementTaken{StatementID: tid("statement/1"), PartyID: victimID, Kind: "video", MediaRef: "dems://statements/1", SHA256: goodSHA}
	add(scenario{given: base(), when: domain.TakeStatement{CommandHeader: hdr(officer, "w-stmt"), StatementTaken: stmt}, then: events(stmt), comp: domain.CompartmentPolice})

	exhibit := domain.EvidenceLogged{EvidenceID: tid("evidence/1"), Description: "photographs", MediaRef: "dems://exhibits/1", SHA256: strings.ToUpper(goodSHA), Custodian: officer.UserID}
	add(scenario{given: base(), when: domain.LogEvidence{CommandHeader: hdr(officer, "w-evidence"), EvidenceLogged: exhibit}, then: events(exhibit), comp: domain.CompartmentPolice})

	moved := domain.EvidenceTransferred{EvidenceID: tid("evidence/1"), From: officer.UserID, To: "property-room", Reason: "storage"}
	add(scenario{given: with(base(), logEvidence("evidence", tid("evidence/1"), officer.UserID)),
		when: domain.TransferEvidence{CommandHeader: hdr(officer, "w-transfer-ev"), EvidenceTransferred: moved}, then: events(moved), comp: domain.CompartmentPolice})

	arrest := domain.ArrestMade{PartyID: suspectID, Charges: []string{"266 Cr.C. assault"}}
	add(scenario{given: base(), when: domain.MakeArrest{CommandHeader: hdr(officer, "w-arrest"), ArrestMade: arrest}, then: events(arrest), comp: domain.CompartmentPolice})

	file := domain.FileSubmittedToProsecutor{FileRef: "DPCP-000123", Office: "dpcp-lavallee", Charges: []string{"266 Cr.C."}}
	add(scenario{given: base(), when: domain.SubmitFileToProsecutor{CommandHeader: hdr(officer, "w-file"), FileSubmittedToProsecutor: file}, then: events(file), comp: domain.CompartmentPolice})

	class := domain.IncidentClassified{UCRCode: "1430", Clearance: "cleared_by_charge"}
	add(scenario{given: base(), when: domain.ClassifyIncident{CommandHeader: hdr(officer, "w-class"), IncidentClassified: class}, then: events(class), comp: domain.CompartmentPolice})

	// risk
	a := assess("w-assess", domain.InstrumentODARA, 8, domain.RiskHigh, nil)
	add(scenario{given: base(), when: a, comp: domain.CompartmentShared,
		then: events(a.RiskAssessmentCompleted, domain.RiskLevelChanged{From: domain.RiskUnknown, To: domain.RiskHigh, Trigger: "assessment"})})

	add(scenario{given: with(base(), assessMedium()),
		when: domain.ChangeRiskLevel{CommandHeader: hdr(officer, "w-change"), To: domain.RiskHigh, Trigger: "breach", Reason: "breach of no-contact"},
		then: events(domain.RiskLevelChanged{From: domain.RiskMedium, To: domain.RiskHigh, Trigger: "breach", Reason: "breach of no-contact"}), comp: domain.CompartmentShared})

	esc := domain.HighRiskEscalated{To: "cellule-intervention-rapide", Reason: "high band"}
	add(scenario{given: highRisk(), when: domain.EscalateHighRisk{CommandHeader: hdr(officer, "w-escalate"), HighRiskEscalated: esc}, then: events(esc), comp: domain.CompartmentShared})

	cell := tid("cell/1")
	act := activateCell("w-activate", cell)
	add(scenario{given: highRisk(), when: act, then: events(act.RapidResponseActivated), comp: domain.CompartmentShared})

	assign := assignAction("w-action", cell, tid("action/1"))
	add(scenario{given: with(highRisk(), activateCell("activate", cell)), when: assign, then: events(assign.RapidResponseActionAssigned), comp: domain.CompartmentShared})

	cl := closeCell("w-close-cell", cell)
	add(scenario{given: with(highRisk(), activateCell("activate", cell), assignAction("action", cell, tid("action/1"))), when: cl, then: events(cl.RapidResponseClosed), comp: domain.CompartmentShared})

	shared := domain.InformationSharedWithoutConsent{LegalBasis: "serious_risk_of_death_or_injury", Recipients: []string{cavacAgency}, DataShared: []string{"identity", "risk_band"}, AuthorisedBy: supervisor}
	add(scenario{given: highRisk(), when: domain.ShareInformationWithoutConsent{CommandHeader: hdr(supervisor, "w-share"), InformationSharedWithoutConsent: shared}, then: events(shared), comp: domain.CompartmentShared})

	// protection
	plan := createPlan("w-plan", tid("plan/1"))
	add(scenario{given: base(), when: plan, then: events(plan.SafetyPlanCreated), comp: domain.CompartmentSocialWork})

	review := domain.SafetyPlanReviewed{PlanID: tid("plan/1"), Changes: "new phone", NextReviewBy: t0.Add(60 * 24 * time.Hour)}
	reviewed := review
	reviewed.PartyID = victimID // filled in from the plan
	add(scenario{given: with(base(), createPlan("plan", tid("plan/1"))), when: domain.ReviewSafetyPlan{CommandHeader: hdr(worker, "w-review"), SafetyPlanReviewed: review}, then: events(reviewed), comp: domain.CompartmentSocialWork})

	cond := tid("condition/1")
	imp := impose("w-impose", cond)
	add(scenario{given: base(), when: imp, then: events(imp.ConditionsImposed), comp: domain.CompartmentShared})

	vary := domain.ConditionsVaried{ConditionID: cond, NoContact: ptr(false), DistanceMetres: ptr(1000), EndsAt: t0.Add(365 * 24 * time.Hour), Reason: "court varied"}
	add(scenario{given: with(base(), impose("impose", cond)), when: domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: vary}, then: events(vary), comp: domain.CompartmentShared})

	end := endConditions("w-end", cond)
	add(scenario{given: with(base(), impose("impose", cond)), when: end, then: events(end.ConditionsEnded), comp: domain.CompartmentShared})

	breach := tid("breach/1")
	rb := reportBreach("w-breach", breach, cond)
	add(scenario{given: with(base(), impose("impose", cond)), when: rb, then: events(rb.BreachReported), comp: domain.CompartmentShared})

	ab := actionBreach("w-action-breach", breach)
	add(scenario{given: with(base(), impose("impose", cond), reportBreach("breach", breach, cond)), when: ab, then: events(ab.BreachActioned), comp: domain.CompartmentPolice})

	notified := domain.VictimNotified{PartyID: victimID, About: "release", Channel: "phone", EventAt: t0.Add(14 * 24 * time.Hour)}
	add(scenario{given: base(), when: domain.NotifyVictim{CommandHeader: hdr(officer, "w-notify"), VictimNotified: notified}, then: events(notified), comp: domain.CompartmentShared})

	// referrals
	off := offer("w-offer", refShelter, "shelter", victimID)
	add(scenario{given: base(), when: off, then: events(off.ReferralOffered), comp: domain.CompartmentShared})

	dec := declineRef("w-decline", refShelter)
	add(scenario{given: with(base(), offer("offer", refShelter, "shelter", victimID)), when: dec, then: events(dec.ReferralDeclinedByClient), comp: domain.CompartmentShared})

	sent := send("w-send", refShelter, "shelter", shelterAgency, victimID, consentShelter)
	add(scenario{given: with(base(), recordConsent("consent", consentShelter, victimID, "shelter", ""), offer("offer", refShelter, "shelter", victimID)),
		when: sent, then: events(sent.ReferralSent), comp: domain.CompartmentShared})

	add(scenario{given: shelterSent(), when: acceptRef("w-accept", shelterDesk, refShelter), then: events(domain.ReferralAccepted{ReferralID: refShelter}), comp: domain.CompartmentShared})

	rej := domain.ReferralRejected{ReferralID: refShelter, Reason: "no place available"}
	add(scenario{given: shelterSent(), when: domain.RejectReferral{CommandHeader: hdr(shelterDesk, "w-reject"), ReferralRejected: rej}, then: events(rej), comp: domain.CompartmentShared})

	rev := domain.ReferralRevoked{ReferralID: refShelter, Reason: "consent withdrawn"}
	add(scenario{given: with(shelterSent(), acceptRef("accept", shelterDesk, refShelter)),
		when: domain.RevokeReferral{CommandHeader: hdr(worker, "w-revoke"), ReferralRevoked: rev}, then: events(rev), comp: domain.CompartmentShared})

	add(scenario{given: with(shelterSent(), acceptRef("accept", shelterDesk, refShelter)),
		when: startService("w-start", shelterDesk, refShelter), then: events(domain.ServiceStarted{ReferralID: refShelter}), comp: domain.CompartmentShared})

	done := domain.ServiceCompleted{ReferralID: refShelter, Outcome: "goals met"}
	add(scenario{given: with(shelterSent(), acceptRef("accept", shelterDesk, refShelter), startService("start", shelterDesk, refShelter)),
		when: domain.CompleteService{CommandHeader: hdr(shelterDesk, "w-complete-svc"), ServiceCompleted: done}, then: events(done), comp: domain.CompartmentShared})

	// follow-ups
	fu := tid("follow-up/1")
	sch := schedule("w-schedule", fu, victimID, t0.Add(48*time.Hour))
	add(scenario{given: base(), when: sch, then: events(sch.FollowUpScheduled), comp: domain.CompartmentShared})

	att := domain.FollowUpAttempted{FollowUpID: fu, Outcome: "no_answer", NextStep: "try again tomorrow"}
	add(scenario{given: with(base(), schedule("schedule", fu, victimID, t0.Add(48*time.Hour))),
		when: domain.AttemptFollowUp{CommandHeader: hdr(worker, "w-attempt"), FollowUpAttempted: att}, then: events(att), comp: domain.CompartmentShared})

	cf := completeFollowUp("w-complete-fu", fu)
	add(scenario{given: with(base(), schedule("schedule", fu, victimID, t0.Add(48*time.Hour))), when: cf, then: events(cf.FollowUpCompleted), comp: domain.CompartmentShared})

	cancel := domain.FollowUpCancelled{FollowUpID: fu, Reason: "client moved to shelter"}
	add(scenario{given: with(base(), schedule("schedule", fu, victimID, t0.Add(48*time.Hour))),
		when: domain.CancelFollowUp{CommandHeader: hdr(worker, "w-cancel-fu"), FollowUpCancelled: cancel}, then: events(cancel), comp: domain.CompartmentShared})

	// case
	link := domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{otherCaseID}, Reason: "same_victim"}
	add(scenario{given: base(), when: domain.LinkCases{CommandHeader: hdr(officer, "w-link"), CasesLinked: link}, then: events(link), comp: domain.CompartmentShared})

	asg := domain.CaseAssigned{Assignee: worker.UserID, Agency: policeAgency}
	add(scenario{given: base(), when: domain.AssignCase{CommandHeader: hdr(supervisor, "w-assign"), CaseAssigned: asg}, then: events(asg), comp: domain.CompartmentShared})

	tr := tid("transfer/1")
	rt := requestTransfer("w-request-tr", tr)
	add(scenario{given: base(), when: rt, then: events(rt.TransferRequested), comp: domain.CompartmentShared})

	add(scenario{given: with(base(), requestTransfer("request-tr", tr)), when: acceptTransfer("w-accept-tr", tr), then: events(domain.TransferAccepted{TransferID: tr}), comp: domain.CompartmentShared})

	trRej := domain.TransferRejected{TransferID: tr, Reason: "outside territory"}
	add(scenario{given: with(base(), requestTransfer("request-tr", tr)), when: domain.RejectTransfer{CommandHeader: hdr(supervisor, "w-reject-tr"), TransferRejected: trRej}, then: events(trRej), comp: domain.CompartmentShared})

	flag := tid("flag/1")
	fc := flagCase("w-flag", flag)
	add(scenario{given: base(), when: fc, then: events(fc.CaseFlagged), comp: domain.CompartmentShared})

	rf := resolveFlag("w-resolve", flag)
	add(scenario{given: with(base(), flagCase("flag", flag)), when: rf, then: events(rf.FlagResolved), comp: domain.CompartmentShared})

	rc := requestClosure("w-request-closure")
	add(scenario{given: highRisk(), when: rc, then: events(rc.ClosureRequested), comp: domain.CompartmentShared})

	ap := approveClosure("w-approve", supervisor)
	add(scenario{given: with(highRisk(), requestClosure("request-closure")), when: ap, then: events(ap.ClosureApproved), comp: domain.CompartmentShared})

	rj := rejectClosure("w-reject-closure", supervisor)
	add(scenario{given: with(highRisk(), requestClosure("request-closure")), when: rj, then: events(rj.ClosureRejected), comp: domain.CompartmentShared})

	cc := closeCase("w-close", worker, "")
	add(scenario{given: with(base(), assessLow()), when: cc, then: events(cc.CaseClosed), comp: domain.CompartmentShared})

	reopen := domain.CaseReopened{Trigger: "new_incident", Reason: "new call"}
	add(scenario{given: closed(), when: domain.ReopenCase{CommandHeader: hdr(officer, "w-reopen"), CaseReopened: reopen}, then: events(reopen), comp: domain.CompartmentShared})

	// consent and privacy
	rcn := recordConsent("w-consent", tid("consent/1"), victimID, "", cavacAgency)
	rcn.ExpiresAt = t0.Add(365 * 24 * time.Hour)
	add(scenario{given: base(), when: rcn, then: events(rcn.ConsentRecorded), comp: domain.CompartmentShared})

	add(scenario{given: with(base(), recordConsent("consent", tid("consent/1"), victimID, "cavac", "")),
		when: withdrawConsent("w-withdraw", tid("consent/1")), then: events(domain.ConsentWithdrawn{ConsentID: tid("consent/1")}), comp: domain.CompartmentShared})

	hold := tid("hold/1")
	ph := placeHold("w-hold", hold, "entire_case")
	add(scenario{given: base(), when: ph, then: events(ph.LegalHoldPlaced), comp: domain.CompartmentShared})

	rh := releaseHold("w-release", hold)
	add(scenario{given: with(base(), placeHold("hold", hold, "evidence")), when: rh, then: events(rh.LegalHoldReleased), comp: domain.CompartmentShared})

	erase := domain.ErasePersonalData{CommandHeader: hdr(supervisor, "w-erase"), PersonalDataErased: domain.PersonalDataErased{Scope: domain.ErasureScopeCase, Reason: "request 2026-114"}}
	erased := erase.PersonalDataErased
	erased.PartyIDs = baseParties()
	add(scenario{given: base(), when: erase, then: events(erased), comp: domain.CompartmentShared})

	dis := disclose("w-disclose", officer, tid("disclosure/1"), uuid.Nil, evID("call", 0), evID("party-victim", 0))
	add(scenario{given: with(base(), receiveCall("call", "CAD-2025-000001")), when: dis, then: events(dis.DisclosureProduced), comp: domain.CompartmentPolice})

	order := tid("order/1")
	ro := receiveOrder("w-order", order)
	add(scenario{given: base(), when: ro, then: events(ro.ProductionOrderReceived), comp: domain.CompartmentPolice})

	// notes and corrections
	note := addNote("w-note", hdr(supervisor, "w-note"), tid("note/1"), "Reviewed the file with the worker.")
	add(scenario{given: base(), when: note, then: events(note.NoteAdded), comp: domain.CompartmentShared})

	ce := correct(hdr(worker, "w-correct"), evID("note-sw", 0), "")
	add(scenario{given: with(base(), swNote()), when: ce, then: events(ce.EntryCorrected), comp: domain.CompartmentSocialWork})

	re := redact("w-redact", evID("call", 0))
	add(scenario{given: with(base(), receiveCall("call", "CAD-2025-000001")), when: re, then: events(re.EntryRedacted), comp: domain.CompartmentPolice})

	me := markInError("w-in-error", worker, evID("note-sw", 0))
	add(scenario{given: with(base(), swNote()), when: me, then: events(me.EntryMarkedInError), comp: domain.CompartmentSocialWork})

	return rows
}

func TestDecideAcceptsEveryCommand(t *testing.T) {
	rows := acceptedRows()
	names := domain.CommandNames()
	if len(names) != 61 {
		t.Errorf("the catalogue has %d commands; this table was written for 61", len(names))
	}
	for _, name := range names {
		sc, ok := rows[name]
		if !ok {
			t.Errorf("command %s has no accepted row", name)
			continue
		}
		t.Run(name, func(t *testing.T) { run(t, sc) })
	}
	for name := range rows {
		if !slices.Contains(names, name) {
			t.Errorf("accepted row %s is not a command of the catalogue", name)
		}
	}
}

// ---- refusals ----

// bogusCommand has a header but is not in the catalogue.
type bogusCommand struct{ domain.CommandHeader }

func invalidFieldRows() []scenario {
	longAddress := strings.Repeat(piiMarker+" ", 30) // > 512 bytes
	noSource := receiveCall("w-call", "CAD-2025-000009")
	noSource.SourceSystem = ""
	noRole := receiveCall("w-call", "CAD-2025-000009")
	noRole.Actor.Role = ""
	noCAD := receiveCall("w-call", "")
	blankCAD := receiveCall("w-call", "   ")
	badChannel := receiveCall("w-call", "CAD-2025-000009")
	badChannel.Channel = "fax"
	badPriority := receiveCall("w-call", "CAD-2025-000009")
	badPriority.Priority = 6
	badComp := receiveCall("w-call", "CAD-2025-000009")
	badComp.Compartment = "secret"
	address := receiveCall("w-call", "CAD-2025-000009")
	address.Address = longAddress
	future := receiveCall("w-call", "CAD-2025-000009")
	future.OccurredAt = t0.Add(domain.MaxFutureSkew + time.Second)
	farFuture := receiveCall("w-call", "CAD-2025-000009")
	farFuture.OccurredAt = t0.AddDate(11, 0, 0)
	ancient := receiveCall("w-call", "CAD-2025-000009")
	ancient.OccurredAt = time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC)

	negScore := assess("w-assess", domain.InstrumentSARA, -1, domain.RiskLow, nil)
	overODARA := assess("w-assess", domain.InstrumentODARA, 14, domain.RiskHigh, nil)
	overDASH := assess("w-assess", domain.InstrumentDASH, 28, domain.RiskHigh, nil)
	badBand := assess("w-assess", domain.InstrumentODARA, 3, "moderate", nil)
	emptyOverride := assess("w-assess", domain.InstrumentODARA, 4, domain.RiskMedium, &domain.Override{})
	overrideNoReason := assess("w-assess", domain.InstrumentODARA, 4, domain.RiskMedium, &domain.Override{Band: domain.RiskHigh})

	clearedBefore := domain.RecordIntervention{CommandHeader: hdr(officer, "w-interv"), InterventionRecorded: domain.InterventionRecorded{
		Units: []string{"21-3"}, ArrivedAt: t0, ClearedAt: t0.Add(-time.Minute)}}
	endsBefore := impose("w-impose", tid("condition/2"))
	endsBefore.EndsAt = endsBefore.StartsAt.Add(-24 * time.Hour)
	endsAtStart := impose("w-impose", tid("condition/2"))
	endsAtStart.EndsAt = endsAtStart.StartsAt
	varyEndsBefore := domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: domain.ConditionsVaried{
		ConditionID: tid("condition/1"), EndsAt: t0.Add(-time.Hour), Reason: "court varied"}}
	varyNegative := domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: domain.ConditionsVaried{
		ConditionID: tid("condition/1"), DistanceMetres: ptr(-1), Reason: "court varied"}}

	shortSHA := domain.TakeStatement{CommandHeader: hdr(officer, "w-stmt"), StatementTaken: domain.StatementTaken{
		StatementID: tid("statement/1"), PartyID: victimID, Kind: "written", MediaRef: "dems://s/1", SHA256: "abc123"}}
	nonHexSHA := shortSHA
	nonHexSHA.SHA256 = strings.Repeat("zz", 32)
	itemSHA := disclose("w-disclose", officer, tid("disclosure/1"), uuid.Nil, evID("open", 0))
	itemSHA.Items[0].SHA256 = "not-a-digest"

	arrestVictim := domain.MakeArrest{CommandHeader: hdr(officer, "w-arrest"), ArrestMade: domain.ArrestMade{PartyID: victimID, Charges: []string{"266"}}}
	notifySuspect := domain.NotifyVictim{CommandHeader: hdr(officer, "w-notify"), VictimNotified: domain.VictimNotified{PartyID: suspectID, About: "release", Channel: "phone"}}
	boundVictim := impose("w-impose", tid("condition/2"))
	boundVictim.BoundPartyID = victimID
	boundVictim.ProtectedPartyIDs = []uuid.UUID{childID}
	protectBound := impose("w-impose", tid("condition/2"))
	protectBound.ProtectedPartyIDs = []uuid.UUID{victimID, suspectID}
	progVictim := offer("w-offer", tid("referral/2"), "aggressor_programme", victimID)
	shelterSuspect := offer("w-offer", tid("referral/2"), "shelter", suspectID)
	sharingNoDest := recordConsent("w-consent", tid("consent/2"), victimID, "", "")
	expiresBefore := recordConsent("w-consent", tid("consent/2"), victimID, "cavac", "")
	expiresBefore.ExpiresAt = t0
	linkSelf := domain.LinkCases{CommandHeader: hdr(officer, "w-link"), CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{caseID}, Reason: "same_couple"}}
	shareByOfficer := domain.ShareInformationWithoutConsent{CommandHeader: hdr(supervisor, "w-share"), InformationSharedWithoutConsent: domain.InformationSharedWithoutConsent{
		LegalBasis: "urgency", Recipients: []string{cavacAgency}, DataShared: []string{"identity"}, AuthorisedBy: officer}}
	emptyNote := addNote("w-note", hdr(officer, "w-note"), tid("note/1"), " \n\t ")

	withCond := with(base(), impose("impose", tid("condition/1")))

	return []scenario{
		{name: "missing header source_system", given: base(), when: noSource, err: domain.ErrInvalidField, field: "source_system"},
		{name: "missing actor role", given: base(), when: noRole, err: domain.ErrInvalidField, field: "actor.role"},
		{name: "missing required cad_ref", given: base(), when: noCAD, err: domain.ErrInvalidField, field: "cad_ref"},
		{name: "blank required cad_ref", given: base(), when: blankCAD, err: domain.ErrInvalidField, field: "cad_ref"},
		{name: "blank note text", given: base(), when: emptyNote, err: domain.ErrInvalidField, field: "text"},
		{name: "wrong enum channel", given: base(), when: badChannel, err: domain.ErrInvalidField, field: "channel"},
		{name: "wrong enum header compartment", given: base(), when: badComp, err: domain.ErrInvalidField, field: "compartment"},
		{name: "wrong enum risk band", given: base(), when: badBand, err: domain.ErrInvalidField, field: "band"},
		{name: "priority above 5", given: base(), when: badPriority, err: domain.ErrInvalidField, field: "priority"},
		{name: "address too long", given: base(), when: address, err: domain.ErrInvalidField, field: "address"},
		{name: "occurred_at beyond MaxFutureSkew", given: base(), when: future, now: t0, err: domain.ErrInvalidField, field: "occurred_at"},
		{name: "occurred_at eleven years ahead", given: base(), when: farFuture, now: t0, err: domain.ErrInvalidField, field: "occurred_at"},
		{name: "occurred_at before 1950", given: base(), when: ancient, now: t0, err: domain.ErrInvalidField, field: "occurred_at"},
		{name: "negative score", given: base(), when: negScore, err: domain.ErrInvalidField, field: "score"},
		{name: "score above ODARA max 13", given: base(), when: overODARA, err: domain.ErrInvalidField, field: "score"},
		{name: "score above DASH max 27", given: base(), when: overDASH, err: domain.ErrInvalidField, field: "score"},
		{name: "override without band", given: base(), when: emptyOverride, err: domain.ErrInvalidField, field: "override.band"},
		{name: "override without band on a high-risk case", given: highRisk(), when: emptyOverride, err: domain.ErrInvalidField, field: "override.band"},
		{name: "override without reason", given: base(), when: overrideNoReason, err: domain.ErrInvalidField, field: "override.reason"},
		{name: "cleared_at before arrived_at", given: base(), when: clearedBefore, err: domain.ErrInvalidField, field: "cleared_at"},
		{name: "ends_at before starts_at", given: base(), when: endsBefore, err: domain.ErrInvalidField, field: "ends_at"},
		{name: "ends_at equal to starts_at", given: base(), when: endsAtStart, err: domain.ErrInvalidField, field: "ends_at"},
		{name: "varied ends_at before starts_at", given: withCond, when: varyEndsBefore, err: domain.ErrInvalidField, field: "ends_at"},
		{name: "varied distance negative", given: withCond, when: varyNegative, err: domain.ErrInvalidField, field: "distance_metres"},
		{name: "sha256 too short", given: base(), when: shortSHA, err: domain.ErrInvalidField, field: "sha256"},
		{name: "sha256 not hex", given: base(), when: nonHexSHA, err: domain.ErrInvalidField, field: "sha256"},
		{name: "disclosed item sha256", given: base(), when: itemSHA, err: domain.ErrInvalidField, field: "items[0].sha256"},
		{name: "arrest of a victim", given: base(), when: arrestVictim, err: domain.ErrInvalidField, field: "party_id"},
		{name: "victim notification to a suspect", given: base(), when: notifySuspect, err: domain.ErrInvalidField, field: "party_id"},
		{name: "conditions binding a victim", given: base(), when: boundVictim, err: domain.ErrInvalidField, field: "bound_party_id"},
		{name: "conditions protecting the bound party", given: base(), when: protectBound, err: domain.ErrInvalidField, field: "protected_party_ids[1]"},
		{name: "aggressor programme for a victim", given: base(), when: progVictim, err: domain.ErrInvalidField, field: "party_id"},
		{name: "shelter for a suspect", given: base(), when: shelterSuspect, err: domain.ErrInvalidField, field: "party_id"},
		{name: "sharing consent naming nobody", given: base(), when: sharingNoDest, err: domain.ErrInvalidField, field: "destination"},
		{name: "consent expiring when given", given: base(), when: expiresBefore, err: domain.ErrInvalidField, field: "expires_at"},
		{name: "case linked to itself", given: base(), when: linkSelf, err: domain.ErrInvalidField, field: "linked_case_ids[0]"},
		{name: "sharing without consent authorised by an officer", given: highRisk(), when: shareByOfficer, err: domain.ErrInvalidField, field: "authorised_by.role"},
	}
}

func caseRows() []scenario {
	note := addNote("w-note", hdr(officer, "w-note"), tid("note/1"), "text")
	mismatch := note
	mismatch.CaseID = otherCaseID
	reopen := domain.ReopenCase{CommandHeader: hdr(officer, "w-reopen"), CaseReopened: domain.CaseReopened{Trigger: "breach"}}
	pointer := &domain.OpenCase{CommandHeader: hdr(cad, "w-open"), CaseOpened: domain.CaseOpened{Module: "joint", Agency: policeAgency}}
	return []scenario{
		{name: "unknown command type", given: base(), when: bogusCommand{hdr(officer, "w-bogus")}, err: domain.ErrUnknownCommand},
		{name: "pointer to a command", when: pointer, err: domain.ErrUnknownCommand},
		{name: "nil command", given: base(), when: nil, now: t0, err: domain.ErrUnknownCommand},
		{name: "case not opened", when: note, err: domain.ErrCaseNotFound},
		{name: "open an opened case", given: opened(), when: domain.OpenCase{CommandHeader: hdr(cad, "w-open"), CaseOpened: domain.CaseOpened{Module: "joint", Agency: policeAgency}}, err: domain.ErrCaseExists},
		{name: "command for another case", given: base(), when: mismatch, err: domain.ErrCaseMismatch, field: "case_id"},
		{name: "reopen an open case", given: base(), when: reopen, err: domain.ErrCaseNotClosed},
	}
}

// closedCaseRows: what a closed case refuses, and what it still accepts.
func closedCaseRows() []scenario {
	refused := []domain.Command{
		receiveCall("w-call", "CAD-2025-000009"),
		domain.CheckAddressHistory{CommandHeader: hdr(cad, "w-history"), AddressHistoryChecked: domain.AddressHistoryChecked{PriorCalls: 1}},
		identify("w-party", strangerID, "MNI-0000009", domain.PartyWitness),
		assess("w-assess", domain.InstrumentODARA, 8, domain.RiskHigh, nil),
		domain.ChangeRiskLevel{CommandHeader: hdr(officer, "w-change"), To: domain.RiskHigh, Trigger: "review"},
		impose("w-impose", tid("condition/9")),
		offer("w-offer", tid("referral/9"), "cavac", victimID),
		schedule("w-schedule", tid("follow-up/9"), victimID, t0.Add(48*time.Hour)),
		recordConsent("w-consent", tid("consent/9"), victimID, "cavac", ""),
		flagCase("w-flag", tid("flag/9")),
		domain.AssignCase{CommandHeader: hdr(supervisor, "w-assign"), CaseAssigned: domain.CaseAssigned{Assignee: "sw-02", Agency: policeAgency}},
		requestTransfer("w-request-tr", tid("transfer/9")),
		requestClosure("w-request-closure"),
		closeCase("w-close-again", worker, ""),
		createPlan("w-plan", tid("plan/9")),
	}
	var rows []scenario
	for _, c := range refused {
		rows = append(rows, scenario{name: "closed refuses " + domain.CommandName(c), given: closed(), when: c, err: domain.ErrCaseClosed})
	}

	order := tid("order/1")
	hold := tid("hold/1")
	n := addNote("w-note", hdr(worker, "w-note"), tid("note/1"), "Called after closure: client safe.")
	ce := correct(hdr(worker, "w-correct"), evID("note-sw", 0), "")
	re := redact("w-redact", evID("note-sw", 0))
	me := markInError("w-in-error", worker, evID("note-sw", 0))
	dis := disclose("w-disclose", auditor, tid("disclosure/1"), uuid.Nil, evID("party-victim", 0))
	ro := receiveOrder("w-order", order)
	ph := placeHold("w-hold", hold, "entire_case")
	rh := releaseHold("w-release", hold)
	reopen := domain.ReopenCase{CommandHeader: hdr(officer, "w-reopen"), CaseReopened: domain.CaseReopened{Trigger: "breach"}}
	closedWithNote := with(base(), swNote(), closeCase("close", worker, ""))
	closedWithHold := with(base(), placeHold("hold", hold, "notes"), closeCase("close", worker, ""))
	return append(rows,
		scenario{name: "closed accepts reopen_case", given: closed(), when: reopen, then: events(reopen.CaseReopened), comp: domain.CompartmentShared},
		scenario{name: "closed accepts add_note", given: closed(), when: n, then: events(n.NoteAdded), comp: domain.CompartmentSocialWork},
		scenario{name: "closed accepts correct_entry", given: closedWithNote, when: ce, then: events(ce.EntryCorrected), comp: domain.CompartmentSocialWork},
		scenario{name: "closed accepts redact_entry", given: closedWithNote, when: re, then: events(re.EntryRedacted), comp: domain.CompartmentSocialWork},
		scenario{name: "closed accepts mark_entry_in_error", given: closedWithNote, when: me, then: events(me.EntryMarkedInError), comp: domain.CompartmentSocialWork},
		scenario{name: "closed accepts produce_disclosure", given: closed(), when: dis, then: events(dis.DisclosureProduced), comp: domain.CompartmentPolice},
		scenario{name: "closed accepts receive_production_order", given: closed(), when: ro, then: events(ro.ProductionOrderReceived), comp: domain.CompartmentPolice},
		scenario{name: "closed accepts place_legal_hold", given: closed(), when: ph, then: events(ph.LegalHoldPlaced), comp: domain.CompartmentShared},
		scenario{name: "closed accepts release_legal_hold", given: closedWithHold, when: rh, then: events(rh.LegalHoldReleased), comp: domain.CompartmentShared},
	)
}

func roleRows() []scenario {
	pending := with(highRisk(), requestClosure("request-closure"))
	dis := disclose("w-disclose", auditor, tid("disclosure/1"), uuid.Nil, evID("party-victim", 0))
	return []scenario{
		{name: "auditor adds a note", given: base(), when: addNote("w-note", hdr(auditor, "w-note"), tid("note/1"), "audit remark"), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "auditor corrects an entry", given: with(base(), swNote()), when: correct(hdr(auditor, "w-correct"), evID("note-sw", 0), ""), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "auditor withdraws a consent", given: with(base(), recordConsent("consent", tid("consent/1"), victimID, "cavac", "")),
			when: domain.WithdrawConsent{CommandHeader: hdr(auditor, "w-withdraw"), ConsentWithdrawn: domain.ConsentWithdrawn{ConsentID: tid("consent/1")}}, err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "auditor produces a disclosure", given: base(), when: dis, then: events(dis.DisclosureProduced), comp: domain.CompartmentPolice},
		{name: "partner sends a referral", given: with(base(), recordConsent("consent", consentShelter, victimID, "shelter", "")),
			when: domain.SendReferral{CommandHeader: hdr(shelterDesk, "w-send"), ReferralSent: sendPayload(refShelter, "shelter", shelterAgency, victimID, consentShelter)}, err: domain.ErrCaseNotFound},
		{name: "partner addressed on the case sends a referral", given: shelterSent(),
			when: domain.SendReferral{CommandHeader: hdr(shelterDesk, "w-send"), ReferralSent: sendPayload(tid("referral/2"), "shelter", shelterAgency, victimID, consentShelter)}, err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "partner adds a note", given: shelterSent(), when: addNote("w-note", hdr(shelterDesk, "w-note"), tid("note/1"), "client arrived"), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "partner revokes its referral", given: shelterSent(),
			when: domain.RevokeReferral{CommandHeader: hdr(shelterDesk, "w-revoke"), ReferralRevoked: domain.ReferralRevoked{ReferralID: refShelter, Reason: "full"}}, err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "partner schedules a follow-up", given: shelterSent(), when: domain.ScheduleFollowUp{CommandHeader: hdr(shelterDesk, "w-schedule"), FollowUpScheduled: domain.FollowUpScheduled{
			FollowUpID: tid("follow-up/1"), PartyID: victimID, Kind: "call", DueBy: t0.Add(24 * time.Hour), Assignee: "intake"}}, err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "officer approves closure", given: pending, when: approveClosure("w-approve", officer), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "social worker approves closure", given: pending, when: approveClosure("w-approve", worker), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "admin approves closure", given: pending, when: approveClosure("w-approve", admin), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "social worker rejects closure", given: pending, when: rejectClosure("w-reject-closure", worker), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		// Agencies (DOMAIN.md "Agencies and sharing"): another agency's
		// case is answered as unknown; one it is shared with is read, not
		// written; a case is opened by its own agency.
		{name: "officer of another agency adds a note", given: base(),
			when: addNote("w-note", hdr(domain.Actor{UserID: "off-mtl", Role: domain.RoleOfficer, Agency: "police-montreal"}, "w-note"), tid("note/1"), "x"), err: domain.ErrCaseNotFound},
		{name: "another agency requests the case's transfer to itself", given: base(),
			when: domain.RequestTransfer{CommandHeader: hdr(domain.Actor{UserID: "sup-mtl", Role: domain.RoleSupervisor, Agency: "police-montreal"}, "w-request-tr"),
				TransferRequested: domain.TransferRequested{TransferID: tid("transfer/1"), ToAgency: "police-montreal", Reason: "mine now"}}, err: domain.ErrCaseNotFound},
		{name: "agency shared with by consent adds a note", given: with(base(), recordConsent("consent-cisss", tid("consent/cisss"), victimID, "health_social_services", "cisss-lavallee")),
			when: addNote("w-note", hdr(domain.Actor{UserID: "sw-cisss", Role: domain.RoleSocialWorker, Agency: "cisss-lavallee"}, "w-note"), tid("note/1"), "x"), err: domain.ErrRoleNotAllowed, field: "actor.agency"},
		{name: "a case opened in another agency's name", given: nil,
			when: domain.OpenCase{CommandHeader: hdr(domain.Actor{UserID: "cad", Role: domain.RoleSystem, Agency: "police-montreal"}, "open"), CaseOpened: domain.CaseOpened{Module: "victim_support", Agency: policeAgency}},
			err:  domain.ErrRoleNotAllowed, field: "agency"},
		// A partner agency with nothing on the case learns nothing of it.
		{name: "partner with nothing on the case answers a referral", given: shelterSent(), when: acceptRef("w-accept", cavacDesk, refShelter), err: domain.ErrCaseNotFound},
		{name: "partner answers another agency's referral", given: cavacAndShelterSent(), when: acceptRef("w-accept", cavacDesk, refShelter), err: domain.ErrNotAddressee, field: "referral_id"},
		{name: "partner rejects another agency's referral", given: cavacAndShelterSent(),
			when: domain.RejectReferral{CommandHeader: hdr(cavacDesk, "w-reject"), ReferralRejected: domain.ReferralRejected{ReferralID: refShelter, Reason: "no"}}, err: domain.ErrNotAddressee, field: "referral_id"},
		{name: "partner starts another agency's service", given: with(cavacAndShelterSent(), acceptRef("accept", shelterDesk, refShelter)),
			when: startService("w-start", cavacDesk, refShelter), err: domain.ErrNotAddressee, field: "referral_id"},
	}
}

func compartmentRows() []scenario {
	callShared := receiveCall("w-call", "CAD-2025-000009")
	callShared.Compartment = domain.CompartmentShared
	callSW := receiveCall("w-call", "CAD-2025-000009")
	callSW.Compartment = domain.CompartmentSocialWork
	callSealed := receiveCall("w-call", "CAD-2025-000009")
	callSealed.Compartment = domain.CompartmentSealed
	planPolice := createPlan("w-plan", tid("plan/1"))
	planPolice.Compartment = domain.CompartmentPolice
	offerSW := offer("w-offer", tid("referral/1"), "cavac", victimID)
	offerSW.Compartment = domain.CompartmentSocialWork
	noteSW := with(base(), swNote())
	noteSealed := with(base(), sealedNote())
	callHist := with(base(), receiveCall("call", "CAD-2025-000001"))
	return []scenario{
		{name: "header shared on a police event", given: base(), when: callShared, err: domain.ErrCompartmentWidened, field: "compartment"},
		{name: "header social_work on a police event", given: base(), when: callSW, err: domain.ErrCompartmentWidened, field: "compartment"},
		{name: "header police on a social_work event", given: base(), when: planPolice, err: domain.ErrCompartmentWidened, field: "compartment"},
		{name: "header sealed narrows a police event", given: base(), when: callSealed, then: events(callSealed.CallReceived), comp: domain.CompartmentSealed},
		{name: "header social_work narrows a shared event", given: base(), when: offerSW, then: events(offerSW.ReferralOffered), comp: domain.CompartmentSocialWork},
		{name: "correction widens social_work to police", given: noteSW, when: correct(hdr(worker, "w-correct"), evID("note-sw", 0), domain.CompartmentPolice),
			err: domain.ErrCompartmentWidened, field: "new_compartment"},
		{name: "correction widens social_work to shared", given: noteSW, when: correct(hdr(worker, "w-correct"), evID("note-sw", 0), domain.CompartmentShared),
			err: domain.ErrCompartmentWidened, field: "new_compartment"},
		{name: "correction widens sealed to shared", given: noteSealed, when: correct(hdr(investigator, "w-correct"), evID("note-sealed", 0), domain.CompartmentShared),
			err: domain.ErrCompartmentWidened, field: "new_compartment"},
		{name: "correction of a social_work entry in header police", given: noteSW, when: correct(hdrIn(supervisor, "w-correct", domain.CompartmentPolice), evID("note-sw", 0), ""),
			err: domain.ErrCompartmentWidened, field: "compartment"},
		// An entry the actor may not see is refused as a missing one.
		{name: "an officer's correction of a social-work entry", given: noteSW, when: correct(hdr(officer, "w-correct"), evID("note-sw", 0), ""),
			err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "an officer's correction of a sealed entry", given: noteSealed, when: correct(hdr(officer, "w-correct"), evID("note-sealed", 0), ""),
			err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "a social worker's marking in error of a police entry", given: callHist,
			when: domain.MarkEntryInError{CommandHeader: hdr(worker, "w-err"), EntryMarkedInError: domain.EntryMarkedInError{TargetEventID: evID("call", 0), Reason: "wrong file"}},
			err:  domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "redaction of a police entry in header shared", given: callHist,
			when: domain.RedactEntry{CommandHeader: hdrIn(supervisor, "w-redact", domain.CompartmentShared), EntryRedacted: domain.EntryRedacted{TargetEventID: evID("call", 0), Fields: []string{"address"}, LegalBasis: "privacy"}},
			err:  domain.ErrCompartmentWidened, field: "compartment"},
		// The correction carries the entry's new values: it is sealed too.
		{name: "correction seals a social_work entry", given: noteSW, when: correct(hdr(worker, "w-correct"), evID("note-sw", 0), domain.CompartmentSealed),
			then: events(correct(hdr(worker, "w-correct"), evID("note-sw", 0), domain.CompartmentSealed).EntryCorrected), comp: domain.CompartmentSealed},
		{name: "correction of a police entry in header sealed", given: callHist, when: correct(hdrIn(officer, "w-correct", domain.CompartmentSealed), evID("call", 0), ""),
			then: events(correct(hdr(officer, "w-correct"), evID("call", 0), "").EntryCorrected), comp: domain.CompartmentSealed},
	}
}

func duplicateRows() []scenario {
	cond := tid("condition/1")
	withCond := with(base(), impose("impose", cond))
	cell := tid("cell/1")
	return []scenario{
		{name: "party id reused", given: base(), when: identify("w-party", victimID, "MNI-0000009", domain.PartyWitness), err: domain.ErrDuplicate, field: "party_id"},
		{name: "person identified twice", given: base(), when: identify("w-party", strangerID, "MNI-0000001", domain.PartyWitness), err: domain.ErrDuplicate, field: "person_id"},
		{name: "cad_ref received twice", given: with(base(), receiveCall("call", "CAD-2025-000001")), when: receiveCall("w-call", "CAD-2025-000001"), err: domain.ErrDuplicate, field: "cad_ref"},
		{name: "statement id reused", given: with(base(), domain.TakeStatement{CommandHeader: hdr(officer, "stmt"), StatementTaken: domain.StatementTaken{StatementID: tid("statement/1"), PartyID: victimID, Kind: "written", MediaRef: "m", SHA256: goodSHA}}),
			when: domain.TakeStatement{CommandHeader: hdr(officer, "w-stmt"), StatementTaken: domain.StatementTaken{StatementID: tid("statement/1"), PartyID: suspectID, Kind: "audio", MediaRef: "m2", SHA256: goodSHA}}, err: domain.ErrDuplicate, field: "statement_id"},
		{name: "evidence id reused", given: with(base(), logEvidence("evidence", tid("evidence/1"), "off-0001")), when: logEvidence("w-evidence", tid("evidence/1"), "off-0002"), err: domain.ErrDuplicate, field: "evidence_id"},
		{name: "assessment id reused", given: with(base(), assess("a1", domain.InstrumentODARA, 1, domain.RiskLow, nil)),
			when: func() domain.Command {
				c := assess("w-assess", domain.InstrumentODARA, 2, domain.RiskLow, nil)
				c.AssessmentID = tid("assessment/a1")
				return c
			}(), err: domain.ErrDuplicate, field: "assessment_id"},
		{name: "rapid-response cell id reused after closing", given: with(highRisk(), activateCell("activate", cell), closeCell("close-cell", cell)), when: activateCell("w-activate", cell), err: domain.ErrDuplicate, field: "cell_id"},
		{name: "rapid-response action id reused", given: with(highRisk(), activateCell("activate", cell), assignAction("action", cell, tid("action/1"))),
			when: assignAction("w-action", cell, tid("action/1")), err: domain.ErrDuplicate, field: "action_id"},
		{name: "safety plan id reused", given: with(base(), createPlan("plan", tid("plan/1"))), when: createPlan("w-plan", tid("plan/1")), err: domain.ErrDuplicate, field: "plan_id"},
		{name: "condition id reused", given: withCond, when: impose("w-impose", cond), err: domain.ErrDuplicate, field: "condition_id"},
		{name: "breach id reused", given: with(withCond, reportBreach("breach", tid("breach/1"), cond)), when: reportBreach("w-breach", tid("breach/1"), cond), err: domain.ErrDuplicate, field: "breach_id"},
		{name: "referral id reused", given: with(base(), offer("offer", refShelter, "shelter", victimID)), when: offer("w-offer", refShelter, "cavac", victimID), err: domain.ErrDuplicate, field: "referral_id"},
		{name: "follow-up id reused", given: with(base(), schedule("schedule", tid("follow-up/1"), victimID, t0.Add(time.Hour))),
			when: schedule("w-schedule", tid("follow-up/1"), victimID, t0.Add(2*time.Hour)), err: domain.ErrDuplicate, field: "follow_up_id"},
		{name: "case already linked", given: with(base(), domain.LinkCases{CommandHeader: hdr(officer, "link"), CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{otherCaseID}, Reason: "same_victim"}}),
			when: domain.LinkCases{CommandHeader: hdr(officer, "w-link"), CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{otherCaseID}, Reason: "same_couple"}}, err: domain.ErrDuplicate, field: "linked_case_ids[0]"},
		{name: "case linked twice in one command", given: base(),
			when: domain.LinkCases{CommandHeader: hdr(officer, "w-link"), CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{otherCaseID, otherCaseID}, Reason: "same_couple"}}, err: domain.ErrDuplicate, field: "linked_case_ids[1]"},
		{name: "transfer id reused", given: with(base(), requestTransfer("request-tr", tid("transfer/1")), acceptTransfer("accept-tr", tid("transfer/1"))),
			when: domain.RequestTransfer{CommandHeader: hdr(worker, "w-request-tr"), TransferRequested: domain.TransferRequested{TransferID: tid("transfer/1"), ToAgency: "police-montagne", Reason: "moved again"}}, err: domain.ErrDuplicate, field: "transfer_id"},
		{name: "flag id reused", given: with(base(), flagCase("flag", tid("flag/1"))), when: flagCase("w-flag", tid("flag/1")), err: domain.ErrDuplicate, field: "flag_id"},
		{name: "consent id reused", given: with(base(), recordConsent("consent", tid("consent/1"), victimID, "cavac", "")),
			when: recordConsent("w-consent", tid("consent/1"), victimID, "shelter", ""), err: domain.ErrDuplicate, field: "consent_id"},
		{name: "hold id reused", given: with(base(), placeHold("hold", tid("hold/1"), "notes")), when: placeHold("w-hold", tid("hold/1"), "evidence"), err: domain.ErrDuplicate, field: "hold_id"},
		{name: "order id reused", given: with(base(), receiveOrder("order", tid("order/1"))), when: receiveOrder("w-order", tid("order/1")), err: domain.ErrDuplicate, field: "order_id"},
		{name: "disclosure id reused", given: with(base(), disclose("disclose", officer, tid("disclosure/1"), uuid.Nil, evID("open", 0))),
			when: disclose("w-disclose", officer, tid("disclosure/1"), uuid.Nil, evID("party-victim", 0)), err: domain.ErrDuplicate, field: "disclosure_id"},
		{name: "note id reused", given: with(base(), swNote()), when: addNote("w-note", hdr(worker, "w-note"), tid("note/sw"), "again"), err: domain.ErrDuplicate, field: "note_id"},
	}
}

func notFoundRows() []scenario {
	ghost := tid("ghost")
	return []scenario{
		{name: "statement of an unknown party", given: base(), when: domain.TakeStatement{CommandHeader: hdr(officer, "w-stmt"), StatementTaken: domain.StatementTaken{
			StatementID: tid("statement/1"), PartyID: strangerID, Kind: "written", MediaRef: "m", SHA256: goodSHA}}, err: domain.ErrUnknownParty, field: "party_id"},
		{name: "assessment of an unknown party", given: base(), when: func() domain.Command {
			c := assess("w-assess", domain.InstrumentODARA, 1, domain.RiskLow, nil)
			c.PartyID = strangerID
			return c
		}(), err: domain.ErrUnknownParty, field: "party_id"},
		{name: "conditions protecting an unknown party", given: base(), when: func() domain.Command {
			c := impose("w-impose", tid("condition/1"))
			c.ProtectedPartyIDs = []uuid.UUID{strangerID}
			return c
		}(), err: domain.ErrUnknownParty, field: "protected_party_ids[0]"},
		{name: "conditions binding an unknown party", given: base(), when: func() domain.Command {
			c := impose("w-impose", tid("condition/1"))
			c.BoundPartyID = strangerID
			return c
		}(), err: domain.ErrUnknownParty, field: "bound_party_id"},
		{name: "follow-up with an unknown party", given: base(), when: schedule("w-schedule", tid("follow-up/1"), strangerID, t0.Add(time.Hour)), err: domain.ErrUnknownParty, field: "party_id"},
		{name: "referral of an unknown party", given: base(), when: offer("w-offer", tid("referral/1"), "cavac", strangerID), err: domain.ErrUnknownParty, field: "party_id"},
		{name: "consent of an unknown party", given: base(), when: recordConsent("w-consent", tid("consent/1"), strangerID, "cavac", ""), err: domain.ErrUnknownParty, field: "party_id"},
		{name: "arrest of an unknown party", given: base(), when: domain.MakeArrest{CommandHeader: hdr(officer, "w-arrest"), ArrestMade: domain.ArrestMade{PartyID: strangerID, Charges: []string{"266"}}}, err: domain.ErrUnknownParty, field: "party_id"},

		{name: "transfer of unknown evidence", given: base(), when: transferEvidence("w-transfer-ev", ghost, "off-0001", "property-room"), err: domain.ErrNotFound, field: "evidence_id"},
		{name: "review of an unknown plan", given: base(), when: domain.ReviewSafetyPlan{CommandHeader: hdr(worker, "w-review"), SafetyPlanReviewed: domain.SafetyPlanReviewed{PlanID: ghost}}, err: domain.ErrNotFound, field: "plan_id"},
		{name: "vary unknown conditions", given: base(), when: domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: domain.ConditionsVaried{ConditionID: ghost, NoContact: ptr(true), Reason: "r"}}, err: domain.ErrNotFound, field: "condition_id"},
		{name: "end unknown conditions", given: base(), when: endConditions("w-end", ghost), err: domain.ErrNotFound, field: "condition_id"},
		{name: "breach of unknown conditions", given: base(), when: reportBreach("w-breach", tid("breach/1"), ghost), err: domain.ErrNotFound, field: "condition_id"},
		{name: "action an unknown breach", given: base(), when: actionBreach("w-action-breach", ghost), err: domain.ErrNotFound, field: "breach_id"},
		{name: "accept an unknown referral", given: base(), when: acceptRef("w-accept", worker, ghost), err: domain.ErrNotFound, field: "referral_id"},
		{name: "decline an unknown referral", given: base(), when: declineRef("w-decline", ghost), err: domain.ErrNotFound, field: "referral_id"},
		{name: "complete an unknown follow-up", given: base(), when: completeFollowUp("w-complete-fu", ghost), err: domain.ErrNotFound, field: "follow_up_id"},
		{name: "resolve an unknown flag", given: base(), when: resolveFlag("w-resolve", ghost), err: domain.ErrNotFound, field: "flag_id"},
		{name: "withdraw an unknown consent", given: base(), when: withdrawConsent("w-withdraw", ghost), err: domain.ErrNotFound, field: "consent_id"},
		{name: "release an unknown hold", given: base(), when: releaseHold("w-release", ghost), err: domain.ErrNotFound, field: "hold_id"},
		{name: "accept a transfer never requested", given: base(), when: acceptTransfer("w-accept-tr", ghost), err: domain.ErrNotFound, field: "transfer_id"},
		{name: "accept an unknown transfer while another is pending", given: with(base(), requestTransfer("request-tr", tid("transfer/1"))), when: acceptTransfer("w-accept-tr", ghost),
			err: domain.ErrNotFound, field: "transfer_id"},
		{name: "action for an unknown cell", given: highRisk(), when: assignAction("w-action", ghost, tid("action/1")), err: domain.ErrNotFound, field: "cell_id"},
		{name: "close an unknown cell", given: highRisk(), when: closeCell("w-close-cell", ghost), err: domain.ErrNotFound, field: "cell_id"},
		{name: "disclosure under an unknown order", given: base(), when: disclose("w-disclose", officer, tid("disclosure/1"), ghost, evID("open", 0)), err: domain.ErrNotFound, field: "order_id"},
	}
}

func transitionRows() []scenario {
	cond := tid("condition/1")
	ended := with(base(), impose("impose", cond), endConditions("end", cond))
	fu := tid("follow-up/1")
	scheduled := with(base(), schedule("schedule", fu, victimID, t0.Add(48*time.Hour)))
	done := with(scheduled, completeFollowUp("complete-fu", fu))
	cancelled := with(scheduled, domain.CancelFollowUp{CommandHeader: hdr(worker, "cancel-fu"), FollowUpCancelled: domain.FollowUpCancelled{FollowUpID: fu, Reason: "moved"}})
	offered := with(base(), offer("offer", refShelter, "shelter", victimID))
	declined := with(offered, declineRef("decline", refShelter))
	accepted := with(shelterSent(), acceptRef("accept", shelterDesk, refShelter))
	rejected := with(shelterSent(), domain.RejectReferral{CommandHeader: hdr(shelterDesk, "reject"), ReferralRejected: domain.ReferralRejected{ReferralID: refShelter, Reason: "full"}})
	completedSvc := with(accepted, startService("start", shelterDesk, refShelter),
		domain.CompleteService{CommandHeader: hdr(shelterDesk, "complete-svc"), ServiceCompleted: domain.ServiceCompleted{ReferralID: refShelter, Outcome: "done"}})
	revoke := func(key string) domain.RevokeReferral {
		return domain.RevokeReferral{CommandHeader: hdr(worker, key), ReferralRevoked: domain.ReferralRevoked{ReferralID: refShelter, Reason: "sent in error"}}
	}
	breach := tid("breach/1")
	actioned := with(base(), impose("impose", cond), reportBreach("breach", breach, cond), actionBreach("action-breach", breach))
	cell := tid("cell/1")
	activeCell := with(highRisk(), activateCell("activate", cell))
	closedCell := with(activeCell, closeCell("close-cell", cell))
	tr := tid("transfer/1")
	pendingTr := with(base(), requestTransfer("request-tr", tr))
	answeredTr := with(pendingTr, acceptTransfer("accept-tr", tr))
	pending := with(highRisk(), requestClosure("request-closure"))
	approved := with(pending, approveClosure("approve", supervisor))
	rejectedClosure := with(pending, rejectClosure("reject-closure", supervisor))
	withdrawn := with(base(), recordConsent("consent", tid("consent/1"), victimID, "cavac", ""), withdrawConsent("withdraw", tid("consent/1")))
	released := with(base(), placeHold("hold", tid("hold/1"), "notes"), releaseHold("release", tid("hold/1")))
	resolved := with(base(), flagCase("flag", tid("flag/1")), resolveFlag("resolve", tid("flag/1")))
	inError := with(base(), swNote(), markInError("in-error", worker, evID("note-sw", 0)))
	rr := requestClosure("w-request-closure")
	return []scenario{
		{name: "accept a referral only offered", given: offered, when: acceptRef("w-accept", worker, refShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "accept a referral twice", given: accepted, when: acceptRef("w-accept", shelterDesk, refShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "accept a rejected referral", given: rejected, when: acceptRef("w-accept", shelterDesk, refShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "start a service on a sent referral", given: shelterSent(), when: startService("w-start", shelterDesk, refShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "complete a service not started", given: accepted,
			when: domain.CompleteService{CommandHeader: hdr(shelterDesk, "w-complete-svc"), ServiceCompleted: domain.ServiceCompleted{ReferralID: refShelter, Outcome: "done"}}, err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "decline a sent referral", given: shelterSent(), when: declineRef("w-decline", refShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "send a referral twice", given: shelterSent(), when: send("w-send", refShelter, "shelter", shelterAgency, victimID, consentShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "send a declined referral", given: with(declined, recordConsent("consent", consentShelter, victimID, "shelter", "")),
			when: send("w-send", refShelter, "shelter", shelterAgency, victimID, consentShelter), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "revoke an offered referral", given: offered, when: revoke("w-revoke"), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "revoke a completed referral", given: completedSvc, when: revoke("w-revoke"), err: domain.ErrInvalidTransition, field: "referral_id"},
		{name: "complete a follow-up twice", given: done, when: completeFollowUp("w-complete-fu", fu), err: domain.ErrInvalidTransition, field: "follow_up_id"},
		{name: "complete a cancelled follow-up", given: cancelled, when: completeFollowUp("w-complete-fu", fu), err: domain.ErrInvalidTransition, field: "follow_up_id"},
		{name: "attempt a completed follow-up", given: done,
			when: domain.AttemptFollowUp{CommandHeader: hdr(worker, "w-attempt"), FollowUpAttempted: domain.FollowUpAttempted{FollowUpID: fu, Outcome: "no_answer"}}, err: domain.ErrInvalidTransition, field: "follow_up_id"},
		{name: "cancel a completed follow-up", given: done,
			when: domain.CancelFollowUp{CommandHeader: hdr(worker, "w-cancel-fu"), FollowUpCancelled: domain.FollowUpCancelled{FollowUpID: fu, Reason: "r"}}, err: domain.ErrInvalidTransition, field: "follow_up_id"},
		{name: "end ended conditions", given: ended, when: endConditions("w-end", cond), err: domain.ErrInvalidTransition, field: "condition_id"},
		{name: "vary ended conditions", given: ended,
			when: domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: domain.ConditionsVaried{ConditionID: cond, NoContact: ptr(false), Reason: "r"}}, err: domain.ErrInvalidTransition, field: "condition_id"},
		{name: "breach of ended conditions", given: ended, when: reportBreach("w-breach", tid("breach/1"), cond), err: domain.ErrInvalidTransition, field: "condition_id"},
		{name: "action a breach twice", given: actioned, when: actionBreach("w-action-breach", breach), err: domain.ErrInvalidTransition, field: "breach_id"},
		{name: "activate a second cell while one is active", given: activeCell, when: activateCell("w-activate", tid("cell/2")), err: domain.ErrInvalidTransition, field: "cell_id"},
		{name: "assign an action in a closed cell", given: closedCell, when: assignAction("w-action", cell, tid("action/1")), err: domain.ErrInvalidTransition, field: "cell_id"},
		{name: "close a closed cell", given: closedCell, when: closeCell("w-close-cell", cell), err: domain.ErrInvalidTransition, field: "cell_id"},
		{name: "request a transfer while one is pending", given: pendingTr, when: requestTransfer("w-request-tr", tid("transfer/2")), err: domain.ErrInvalidTransition, field: "transfer_id"},
		{name: "accept an answered transfer", given: answeredTr, when: acceptTransfer("w-accept-tr", tr), err: domain.ErrInvalidTransition, field: "transfer_id"},
		{name: "resolve a resolved flag", given: resolved, when: resolveFlag("w-resolve", tid("flag/1")), err: domain.ErrInvalidTransition, field: "flag_id"},
		{name: "withdraw a withdrawn consent", given: withdrawn, when: withdrawConsent("w-withdraw", tid("consent/1")), err: domain.ErrInvalidTransition, field: "consent_id"},
		{name: "release a released hold", given: released, when: releaseHold("w-release", tid("hold/1")), err: domain.ErrInvalidTransition, field: "hold_id"},
		{name: "request closure while one is pending", given: pending, when: rr, err: domain.ErrInvalidTransition, field: "reason"},
		{name: "request closure once approved", given: approved, when: rr, err: domain.ErrInvalidTransition, field: "reason"},
		{name: "request closure again after a rejection", given: rejectedClosure, when: rr, then: events(rr.ClosureRequested), comp: domain.CompartmentShared},
		{name: "approve with nothing requested", given: highRisk(), when: approveClosure("w-approve", supervisor), err: domain.ErrInvalidTransition, field: "closure"},
		{name: "approve twice", given: approved, when: approveClosure("w-approve", supervisor), err: domain.ErrInvalidTransition, field: "closure"},
		{name: "reject an approved closure", given: approved, when: rejectClosure("w-reject-closure", supervisor), err: domain.ErrInvalidTransition, field: "closure"},
		{name: "correct an entry in error", given: inError, when: correct(hdr(worker, "w-correct"), evID("note-sw", 0), ""), err: domain.ErrInvalidTransition, field: "target_event_id"},
		{name: "mark an entry in error twice", given: inError, when: markInError("w-in-error", worker, evID("note-sw", 0)), err: domain.ErrInvalidTransition, field: "target_event_id"},
	}
}

func consentRows() []scenario {
	offered := with(base(), offer("offer", refShelter, "shelter", victimID))
	sendNoConsent := send("w-send", refShelter, "shelter", shelterAgency, victimID, uuid.Nil)
	sendWith := func(consent uuid.UUID) domain.SendReferral {
		return send("w-send", refShelter, "shelter", shelterAgency, victimID, consent)
	}
	cavacConsent := tid("consent/cavac")
	without := domain.InformationSharedWithoutConsent{LegalBasis: "serious_risk_of_death_or_injury", Recipients: []string{shelterAgency}, DataShared: []string{"identity", "risk_band"}, AuthorisedBy: supervisor}
	authorised := sendNoConsent
	authorised.WithoutConsent = &without
	byWorker := sendNoConsent
	byWorker.WithoutConsent = &domain.InformationSharedWithoutConsent{LegalBasis: "urgency", Recipients: []string{shelterAgency}, DataShared: []string{"identity"}, AuthorisedBy: worker}
	wrongRecipients := sendNoConsent
	wrongRecipients.WithoutConsent = &domain.InformationSharedWithoutConsent{LegalBasis: "urgency", Recipients: []string{cavacAgency}, DataShared: []string{"identity"}, AuthorisedBy: supervisor}
	emptyWithout := sendNoConsent
	emptyWithout.WithoutConsent = &domain.InformationSharedWithoutConsent{}
	both := sendWith(consentShelter)
	both.WithoutConsent = &without
	wrongDest := send("w-send", refShelter, "cavac", cavacAgency, victimID, uuid.Nil)
	wrongDest.WithoutConsent = &domain.InformationSharedWithoutConsent{LegalBasis: "urgency", Recipients: []string{cavacAgency}, DataShared: []string{"identity"}, AuthorisedBy: supervisor}
	expiring := recordConsent("consent", consentShelter, victimID, "shelter", "")
	expiring.ExpiresAt = t0.Add(time.Hour)
	afterExpiry := sendWith(consentShelter)
	afterExpiry.OccurredAt = t0.Add(2 * time.Hour)
	beforeExpiry := sendWith(consentShelter)
	beforeExpiry.OccurredAt = t0.Add(30 * time.Minute)
	services := recordConsent("consent", consentShelter, victimID, "shelter", "")
	services.Scope = domain.ConsentServices
	byAgency := recordConsent("consent", consentShelter, victimID, "", shelterAgency)
	accepted := sendWith(consentShelter)
	direct := with(base(), recordConsent("consent", consentShelter, victimID, "shelter", ""))
	return []scenario{
		{name: "no consent and no decision to share", given: offered, when: sendNoConsent, err: domain.ErrNoConsent, field: "consent_id"},
		{name: "consent for another destination", given: with(offered, recordConsent("consent", cavacConsent, victimID, "cavac", "")),
			when: sendWith(cavacConsent), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "consent for another agency", given: with(offered, recordConsent("consent", consentShelter, victimID, "", "shelter-autre")),
			when: sendWith(consentShelter), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "withdrawn consent", given: with(offered, recordConsent("consent", consentShelter, victimID, "shelter", ""), withdrawConsent("withdraw", consentShelter)),
			when: sendWith(consentShelter), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "expired consent", given: with(offered, expiring), when: afterExpiry, err: domain.ErrNoConsent, field: "consent_id"},
		{name: "consent before its expiry", given: with(offered, expiring), when: beforeExpiry, then: events(beforeExpiry.ReferralSent), comp: domain.CompartmentShared},
		{name: "services consent is not a sharing consent", given: with(offered, services), when: sendWith(consentShelter), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "another party's consent", given: with(offered, recordConsent("consent", consentShelter, childID, "shelter", "")),
			when: sendWith(consentShelter), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "unknown consent id", given: offered, when: sendWith(tid("ghost")), err: domain.ErrNoConsent, field: "consent_id"},
		{name: "consent naming the agency", given: with(offered, byAgency), when: accepted, then: events(accepted.ReferralSent), comp: domain.CompartmentShared},
		{name: "sent without an offer", given: direct, when: accepted, then: events(accepted.ReferralSent), comp: domain.CompartmentShared},
		{name: "without consent authorised by a supervisor", given: offered, when: authorised,
			then: events(without, sendPayload(refShelter, "shelter", shelterAgency, victimID, uuid.Nil)), comp: domain.CompartmentShared},
		{name: "without consent authorised by a social worker", given: offered, when: byWorker, err: domain.ErrInvalidField, field: "without_consent.authorised_by.role"},
		{name: "without consent not naming the agency", given: offered, when: wrongRecipients, err: domain.ErrInvalidField, field: "without_consent.recipients"},
		{name: "without consent left empty", given: offered, when: emptyWithout, err: domain.ErrInvalidField, field: anyField},
		{name: "consent id and without consent both", given: with(offered, recordConsent("consent", consentShelter, victimID, "shelter", "")), when: both, err: domain.ErrInvalidField, field: "without_consent"},
		{name: "sent to another destination than offered", given: offered, when: wrongDest, err: domain.ErrInvalidField, field: "destination"},
	}
}

func closureRows() []scenario {
	cond := tid("condition/1")
	fu := tid("follow-up/1")
	high := highRisk()
	approved := with(high, requestClosure("request-closure"), approveClosure("approve", supervisor))
	justified := closeCase("w-close", worker, "conditions run to term under probation follow-up")
	plain := closeCase("w-close", worker, "")
	highOverride := with(base(), assess("assess-ov", domain.InstrumentODARA, 1, domain.RiskLow, &domain.Override{Band: domain.RiskHigh, Reason: "recent strangulation"}))
	return []scenario{
		{name: "close a high-risk case without approval", given: high, when: plain, err: domain.ErrApprovalRequired},
		{name: "close a high-risk case with a pending request", given: with(high, requestClosure("request-closure")), when: plain, err: domain.ErrApprovalRequired},
		{name: "close a high-risk case after a rejection", given: with(high, requestClosure("request-closure"), rejectClosure("reject-closure", supervisor)), when: plain, err: domain.ErrApprovalRequired},
		{name: "close a case made high by an override", given: highOverride, when: plain, err: domain.ErrApprovalRequired},
		{name: "close a case made high by a change", given: with(base(), domain.ChangeRiskLevel{CommandHeader: hdr(officer, "change"), To: domain.RiskHigh, Trigger: "breach"}), when: plain, err: domain.ErrApprovalRequired},
		{name: "close a high-risk case after approval", given: approved, when: plain, then: events(plain.CaseClosed), comp: domain.CompartmentShared},
		{name: "close with active conditions and no justification", given: with(base(), impose("impose", cond)), when: plain, err: domain.ErrOpenItems, field: "justification"},
		{name: "close with an open follow-up and no justification", given: with(base(), schedule("schedule", fu, victimID, t0.Add(time.Hour))), when: plain, err: domain.ErrOpenItems, field: "justification"},
		{name: "close with an attempted follow-up and no justification", given: with(base(), schedule("schedule", fu, victimID, t0.Add(time.Hour)),
			domain.AttemptFollowUp{CommandHeader: hdr(worker, "attempt"), FollowUpAttempted: domain.FollowUpAttempted{FollowUpID: fu, Outcome: "no_answer"}}), when: plain, err: domain.ErrOpenItems, field: "justification"},
		{name: "close approved high-risk with active conditions and no justification", given: with(approved, impose("impose", cond)), when: plain, err: domain.ErrOpenItems, field: "justification"},
		{name: "close with active conditions and a justification", given: with(base(), impose("impose", cond)), when: justified, then: events(justified.CaseClosed), comp: domain.CompartmentShared},
		{name: "close with an open follow-up and a justification", given: with(base(), schedule("schedule", fu, victimID, t0.Add(time.Hour))), when: justified, then: events(justified.CaseClosed), comp: domain.CompartmentShared},
		{name: "close once conditions ended and follow-ups done", given: with(base(), impose("impose", cond), endConditions("end", cond),
			schedule("schedule", fu, victimID, t0.Add(time.Hour)), completeFollowUp("complete-fu", fu)), when: plain, then: events(plain.CaseClosed), comp: domain.CompartmentShared},
		{name: "close under an entire-case legal hold", given: with(base(), placeHold("hold", tid("hold/1"), "entire_case")), when: plain, then: events(plain.CaseClosed), comp: domain.CompartmentShared},
	}
}

func entryRows() []scenario {
	foreign := domain.EventID(tid("command/of-another-case"), 0)
	callHist := with(base(), receiveCall("call", "CAD-2025-000001"))
	heldCase := with(base(), swNote(), placeHold("hold", tid("hold/1"), "entire_case"))
	heldNotes := with(base(), swNote(), placeHold("hold", tid("hold/1"), "notes"))
	heldEvidence := with(base(), logEvidence("evidence", tid("evidence/1"), officer.UserID), placeHold("hold", tid("hold/1"), "evidence"))
	releasedHold := with(heldCase, releaseHold("release", tid("hold/1")))
	re := redact("w-redact", evID("note-sw", 0))
	reEvidence := redact("w-redact", evID("evidence", 0))
	sealed := with(base(), sealedNote())
	withOrder := with(sealed, receiveOrder("order", tid("order/1")))
	dis := disclose("w-disclose", officer, tid("disclosure/1"), tid("order/1"), evID("open", 0), evID("note-sealed", 0))
	return []scenario{
		{name: "correction of an event not in the case", given: callHist, when: correct(hdr(officer, "w-correct"), foreign, ""), err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "redaction of an event not in the case", given: callHist, when: redact("w-redact", foreign), err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "marking in error of an event not in the case", given: callHist, when: markInError("w-in-error", officer, foreign), err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "disclosure of an event not in the case", given: callHist, when: disclose("w-disclose", officer, tid("disclosure/1"), uuid.Nil, evID("call", 0), foreign), err: domain.ErrUnknownEntry, field: "items[1].event_id"},
		{name: "correction targeting the command id, not the event id", given: callHist, when: correct(hdr(officer, "w-correct"), cmdID("call"), ""), err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "redaction under an entire-case hold", given: heldCase, when: re, err: domain.ErrLegalHold, field: "target_event_id"},
		{name: "redaction once the hold is released", given: releasedHold, when: re, then: events(re.EntryRedacted), comp: domain.CompartmentSocialWork},
		{name: "redaction of a note under a notes hold", given: heldNotes, when: re, err: domain.ErrLegalHold, field: "target_event_id"},
		{name: "redaction of evidence under an evidence hold", given: heldEvidence, when: reEvidence, err: domain.ErrLegalHold, field: "target_event_id"},
		{name: "disclosure of a sealed entry without an order", given: sealed, when: disclose("w-disclose", officer, tid("disclosure/1"), uuid.Nil, evID("open", 0), evID("note-sealed", 0)),
			err: domain.ErrOrderRequired, field: "items[1].event_id"},
		{name: "disclosure of an entry sealed by correction without an order", given: with(callHist, correct(hdr(officer, "seal"), evID("call", 0), domain.CompartmentSealed)),
			when: disclose("w-disclose", auditor, tid("disclosure/1"), uuid.Nil, evID("call", 0)), err: domain.ErrOrderRequired, field: "items[0].event_id"},
		{name: "disclosure of a sealed entry under an order", given: withOrder, when: dis, then: events(dis.DisclosureProduced), comp: domain.CompartmentPolice},
	}
}

func riskRows() []scenario {
	medium := with(base(), assessMedium())
	high := highRisk()
	sameBand := assess("w-assess", domain.InstrumentDASH, 11, domain.RiskMedium, nil)
	lower := assess("w-assess", domain.InstrumentDASH, 2, domain.RiskLow, nil)
	override := assess("w-assess", domain.InstrumentSARA, 5, domain.RiskLow, &domain.Override{Band: domain.RiskHigh, Reason: "recent strangulation"})
	overrideDown := assess("w-assess", domain.InstrumentBSAFER, 25, domain.RiskHigh, &domain.Override{Band: domain.RiskMedium, Reason: "suspect in custody"})
	overrideSame := assess("w-assess", domain.InstrumentODARA, 2, domain.RiskLow, &domain.Override{Band: domain.RiskHigh, Reason: "separation underway"})
	maxODARA := assess("w-assess", domain.InstrumentODARA, 13, domain.RiskHigh, nil)
	zero := assess("w-assess", domain.InstrumentDangerAssessment, 0, domain.RiskLow, nil)
	ev := custodyEvidence()
	return []scenario{
		{name: "assessment in the current band changes nothing else", given: medium, when: sameBand, then: events(sameBand.RiskAssessmentCompleted), comp: domain.CompartmentShared},
		{name: "assessment lowering the band", given: medium, when: lower, comp: domain.CompartmentShared,
			then: events(lower.RiskAssessmentCompleted, domain.RiskLevelChanged{From: domain.RiskMedium, To: domain.RiskLow, Trigger: "assessment"})},
		{name: "override band wins over the instrument band", given: medium, when: override, comp: domain.CompartmentShared,
			then: events(override.RiskAssessmentCompleted, domain.RiskLevelChanged{From: domain.RiskMedium, To: domain.RiskHigh, Trigger: "assessment"})},
		{name: "override lowering the instrument band", given: high, when: overrideDown, comp: domain.CompartmentShared,
			then: events(overrideDown.RiskAssessmentCompleted, domain.RiskLevelChanged{From: domain.RiskHigh, To: domain.RiskMedium, Trigger: "assessment"})},
		{name: "override equal to the current band changes nothing else", given: high, when: overrideSame, then: events(overrideSame.RiskAssessmentCompleted), comp: domain.CompartmentShared},
		{name: "score at the instrument's maximum", given: base(), when: maxODARA, comp: domain.CompartmentShared,
			then: events(maxODARA.RiskAssessmentCompleted, domain.RiskLevelChanged{To: domain.RiskHigh, Trigger: "assessment"})},
		{name: "score zero", given: base(), when: zero, comp: domain.CompartmentShared,
			then: events(zero.RiskAssessmentCompleted, domain.RiskLevelChanged{To: domain.RiskLow, Trigger: "assessment"})},
		{name: "risk change to the current band", given: medium, when: domain.ChangeRiskLevel{CommandHeader: hdr(officer, "w-change"), To: domain.RiskMedium, Trigger: "review"}, err: domain.ErrNoChange, field: "to"},
		{name: "escalation of a medium-risk case", given: medium, when: domain.EscalateHighRisk{CommandHeader: hdr(officer, "w-escalate"), HighRiskEscalated: domain.HighRiskEscalated{To: "table"}}, err: domain.ErrNotHighRisk},
		{name: "escalation of a case never assessed", given: base(), when: domain.EscalateHighRisk{CommandHeader: hdr(officer, "w-escalate"), HighRiskEscalated: domain.HighRiskEscalated{To: "table"}}, err: domain.ErrNotHighRisk},
		{name: "rapid response on a medium-risk case", given: medium, when: activateCell("w-activate", tid("cell/1")), err: domain.ErrNotHighRisk},
		{name: "escalation after the band came down", given: with(high, domain.ChangeRiskLevel{CommandHeader: hdr(officer, "down"), To: domain.RiskLow, Trigger: "review"}),
			when: domain.EscalateHighRisk{CommandHeader: hdr(officer, "w-escalate"), HighRiskEscalated: domain.HighRiskEscalated{To: "table"}}, err: domain.ErrNotHighRisk},
		// custody and other no-change rules
		{name: "evidence handed over by someone else", given: ev, when: transferEvidence("w-transfer-ev", tid("evidence/1"), "off-0099", "property-room"), err: domain.ErrCustodyMismatch, field: "from"},
		{name: "evidence handed over by its former custodian", given: with(ev, transferEvidence("transfer-ev", tid("evidence/1"), officer.UserID, "property-room")),
			when: transferEvidence("w-transfer-ev", tid("evidence/1"), officer.UserID, "lab"), err: domain.ErrCustodyMismatch, field: "from"},
		{name: "evidence handed over by its new custodian", given: with(ev, transferEvidence("transfer-ev", tid("evidence/1"), officer.UserID, "property-room")),
			when: transferEvidence("w-transfer-ev", tid("evidence/1"), "property-room", "lab"), then: events(transferEvidence("x", tid("evidence/1"), "property-room", "lab").EvidenceTransferred), comp: domain.CompartmentPolice},
		{name: "evidence handed to its custodian", given: ev, when: transferEvidence("w-transfer-ev", tid("evidence/1"), officer.UserID, officer.UserID), err: domain.ErrNoChange, field: "to"},
		{name: "assignment to the current assignee", given: with(base(), domain.AssignCase{CommandHeader: hdr(supervisor, "assign"), CaseAssigned: domain.CaseAssigned{Assignee: "sw-01", Agency: policeAgency}}),
			when: domain.AssignCase{CommandHeader: hdr(supervisor, "w-assign"), CaseAssigned: domain.CaseAssigned{Assignee: "sw-01", Agency: policeAgency}}, err: domain.ErrNoChange, field: "assignee"},
		{name: "variation varying nothing", given: with(base(), impose("impose", tid("condition/1"))),
			when: domain.VaryConditions{CommandHeader: hdr(officer, "w-vary"), ConditionsVaried: domain.ConditionsVaried{ConditionID: tid("condition/1"), Reason: "r"}}, err: domain.ErrNoChange, field: "condition_id"},
		{name: "transfer to the current agency and worker", given: with(base(), domain.AssignCase{CommandHeader: hdr(supervisor, "assign"), CaseAssigned: domain.CaseAssigned{Assignee: "sw-01", Agency: policeAgency}}),
			when: domain.RequestTransfer{CommandHeader: hdr(worker, "w-request-tr"), TransferRequested: domain.TransferRequested{TransferID: tid("transfer/1"), ToAgency: policeAgency, ToUser: "sw-01", Reason: "r"}}, err: domain.ErrNoChange, field: "to_agency"},
	}
}

func custodyEvidence() []domain.Command {
	return with(base(), logEvidence("evidence", tid("evidence/1"), officer.UserID))
}

// noteRows: where a note goes when its header names no compartment.
func noteRows() []scenario {
	row := func(name string, h domain.CommandHeader, comp domain.Compartment) scenario {
		n := addNote("w-note", h, tid("note/1"), "Victim reports threats by text message.")
		return scenario{name: name, given: base(), when: n, then: events(n.NoteAdded), comp: comp}
	}
	return []scenario{
		row("officer note defaults to police", hdr(officer, "w-note"), domain.CompartmentPolice),
		row("investigator note defaults to police", hdr(investigator, "w-note"), domain.CompartmentPolice),
		row("social worker note defaults to social_work", hdr(worker, "w-note"), domain.CompartmentSocialWork),
		row("supervisor note defaults to shared", hdr(supervisor, "w-note"), domain.CompartmentShared),
		row("admin note defaults to shared", hdr(admin, "w-note"), domain.CompartmentShared),
		row("system note defaults to shared", hdr(cad, "w-note"), domain.CompartmentShared),
		row("officer note sealed by the header", hdrIn(officer, "w-note", domain.CompartmentSealed), domain.CompartmentSealed),
		row("social worker note shared by the header", hdrIn(worker, "w-note", domain.CompartmentShared), domain.CompartmentShared),
		row("supervisor note in social_work by the header", hdrIn(supervisor, "w-note", domain.CompartmentSocialWork), domain.CompartmentSocialWork),
	}
}

// boundaryRows: values right at a limit are accepted.
func boundaryRows() []scenario {
	skew := receiveCall("w-call", "CAD-2025-000009")
	skew.OccurredAt = t0.Add(domain.MaxFutureSkew)
	corr := receiveCall("w-call2", "CAD-2025-000010")
	corr.CorrelationID = tid("correlation/1")
	return []scenario{
		{name: "occurred_at exactly MaxFutureSkew ahead", given: base(), when: skew, now: t0, then: events(skew.CallReceived), comp: domain.CompartmentPolice},
		{name: "correlation id carried from the header", given: base(), when: corr, then: events(corr.CallReceived), comp: domain.CompartmentPolice},
	}
}

func TestDecideInvalidFields(t *testing.T) { runAll(t, invalidFieldRows()) }
func TestDecideCaseExistence(t *testing.T) { runAll(t, caseRows()) }
func TestDecideClosedCase(t *testing.T)    { runAll(t, closedCaseRows()) }
func TestDecideRoles(t *testing.T)         { runAll(t, roleRows()) }
func TestDecideCompartments(t *testing.T)  { runAll(t, compartmentRows()) }
func TestDecideDuplicates(t *testing.T)    { runAll(t, duplicateRows()) }
func TestDecideNotFound(t *testing.T)      { runAll(t, notFoundRows()) }
func TestDecideTransitions(t *testing.T)   { runAll(t, transitionRows()) }
func TestDecideConsent(t *testing.T)       { runAll(t, consentRows()) }
func TestDecideClosure(t *testing.T)       { runAll(t, closureRows()) }
func TestDecideEntries(t *testing.T)       { runAll(t, entryRows()) }
func TestDecideRiskAndNoChange(t *testing.T) {
	runAll(t, riskRows())
}
func TestDecideNoteCompartments(t *testing.T) { runAll(t, noteRows()) }
func TestDecideBoundaries(t *testing.T)       { runAll(t, boundaryRows()) }

// TestDecideSentinelCoverage fails when a sentinel Decide documents has no
// refusal row.
func TestDecideSentinelCoverage(t *testing.T) {
	sentinels := []error{
		domain.ErrUnknownCommand, domain.ErrInvalidField, domain.ErrCaseNotFound, domain.ErrCaseExists,
		domain.ErrCaseMismatch, domain.ErrCaseClosed, domain.ErrRoleNotAllowed, domain.ErrNotAddressee,
		domain.ErrCompartmentWidened, domain.ErrUnknownParty, domain.ErrDuplicate, domain.ErrNotFound,
		domain.ErrInvalidTransition, domain.ErrNoConsent, domain.ErrApprovalRequired, domain.ErrOpenItems,
		domain.ErrUnknownEntry, domain.ErrNoChange, domain.ErrNotHighRisk, domain.ErrCustodyMismatch,
		domain.ErrLegalHold, domain.ErrOrderRequired, domain.ErrCaseNotClosed,
	}
	var all []scenario
	for _, rows := range [][]scenario{invalidFieldRows(), caseRows(), closedCaseRows(), roleRows(), compartmentRows(), duplicateRows(),
		notFoundRows(), transitionRows(), consentRows(), closureRows(), entryRows(), riskRows(), noPersonalDataRows()} {
		all = append(all, rows...)
	}
	for _, want := range sentinels {
		n := 0
		for _, sc := range all {
			if sc.err == want {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no refusal row for %v", want)
		}
	}
}

// ---- personal data never in errors ----

func noPersonalDataRows() []scenario {
	call := receiveCall("w-call", "CAD-2025-000001")
	call.Address = piiMarker
	dupCall := call
	tooLong := receiveCall("w-call", "CAD-2025-000009")
	tooLong.Address = strings.Repeat(piiMarker, 30)
	enumValue := addNote("w-note", hdr(officer, "w-note"), tid("note/1"), piiMarker)
	enumValue.Compartment = domain.Compartment(piiMarker)
	auditorNote := addNote("w-note", hdr(auditor, "w-note"), tid("note/1"), piiMarker)
	dupNote := addNote("w-note", hdr(worker, "w-note"), tid("note/sw"), piiMarker)
	longNote := addNote("w-note", hdr(worker, "w-note"), tid("note/1"), strings.Repeat(piiMarker, 1000))
	party := identify("w-party", strangerID, piiMarker, domain.PartyWitness)
	party.SafeContact = []domain.SafeContact{{Method: "fax", Details: piiMarker}}
	relationship := identify("w-party", strangerID, "MNI-0000009", domain.PartyWitness)
	relationship.Relationship = domain.Relationship(piiMarker)
	dupPerson := identify("w-party", strangerID, "MNI-0000001", domain.PartyWitness)
	dupPerson.SafeContact = []domain.SafeContact{{Method: "phone", Details: piiMarker}}
	longPerson := identify("w-party", strangerID, strings.Repeat(piiMarker, 5), domain.PartyWitness)
	correction := correct(hdr(worker, "w-correct"), tid("ghost"), "")
	correction.Changes = []domain.FieldChange{{Field: "text", Value: piiMarker}}
	sha := domain.TakeStatement{CommandHeader: hdr(officer, "w-stmt"), StatementTaken: domain.StatementTaken{
		StatementID: tid("statement/1"), PartyID: victimID, Kind: "written", MediaRef: "m", SHA256: piiMarker}}
	flag := flagCase("w-flag", tid("flag/1"))
	flag.Message = strings.Repeat(piiMarker, 60)
	plan := createPlan("w-plan", tid("plan/1"))
	plan.PartyID = strangerID
	plan.SafeContacts = []string{piiMarker}
	return []scenario{
		{name: "address on a closed case", given: closed(), when: call, err: domain.ErrCaseClosed},
		{name: "address with a duplicate cad_ref", given: with(base(), receiveCall("call", "CAD-2025-000001")), when: dupCall, err: domain.ErrDuplicate, field: "cad_ref"},
		{name: "address too long", given: base(), when: tooLong, err: domain.ErrInvalidField, field: "address"},
		{name: "personal value as a compartment", given: base(), when: enumValue, err: domain.ErrInvalidField, field: "compartment"},
		{name: "note by an auditor", given: base(), when: auditorNote, err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "note with a duplicate id", given: with(base(), swNote()), when: dupNote, err: domain.ErrDuplicate, field: "note_id"},
		{name: "note too long", given: base(), when: longNote, err: domain.ErrInvalidField, field: "text"},
		{name: "safe contact with a bad method", given: base(), when: party, err: domain.ErrInvalidField, field: "safe_contact[0].method"},
		{name: "personal value as a relationship", given: base(), when: relationship, err: domain.ErrInvalidField, field: "relationship"},
		{name: "safe contact of a person already a party", given: base(), when: dupPerson, err: domain.ErrDuplicate, field: "person_id"},
		{name: "person id too long", given: base(), when: longPerson, err: domain.ErrInvalidField, field: "person_id"},
		{name: "correction value on an unknown entry", given: base(), when: correction, err: domain.ErrUnknownEntry, field: "target_event_id"},
		{name: "personal value as a digest", given: base(), when: sha, err: domain.ErrInvalidField, field: "sha256"},
		{name: "flag message too long", given: base(), when: flag, err: domain.ErrInvalidField, field: "message"},
		{name: "safety plan for an unknown party", given: base(), when: plan, err: domain.ErrUnknownParty, field: "party_id"},
	}
}

// TestDecideErrorsHoldNoPersonalData: checkRefusal refuses any error that
// repeats piiMarker; every row here carries it in the refused command.
func TestDecideErrorsHoldNoPersonalData(t *testing.T) {
	for _, sc := range noPersonalDataRows() {
		if !strings.Contains(commandText(sc.when), piiMarker) {
			t.Errorf("%s: the command does not carry the personal value", sc.name)
		}
	}
	runAll(t, noPersonalDataRows())
}

// commandText is the command's JSON, to check it carries piiMarker.
func commandText(c domain.Command) string {
	_, b, err := domain.EncodeCommand(c)
	if err != nil {
		return ""
	}
	return string(b)
}

// ---- event ids ----

func TestEventIDsAreDeterministic(t *testing.T) {
	c := tid("command/x")
	if domain.EventID(c, 0) != domain.EventID(c, 0) {
		t.Fatal("EventID is not a function of its arguments")
	}
	ids := map[uuid.UUID]string{}
	for _, k := range []struct {
		cmd uuid.UUID
		i   int
	}{{c, 0}, {c, 1}, {c, 2}, {tid("command/y"), 0}, {tid("command/y"), 1}} {
		id := domain.EventID(k.cmd, k.i)
		if prev, dup := ids[id]; dup {
			t.Errorf("EventID(%s, %d) collides with %s", k.cmd, k.i, prev)
		}
		ids[id] = k.cmd.String()
		if id.Version() != 5 {
			t.Errorf("EventID is a version %d uuid, want 5", id.Version())
		}
	}
	if want := uuid.NewSHA1(c, []byte("1")); domain.EventID(c, 1) != want {
		t.Errorf("EventID(c, 1) = %s, want uuid v5 of (c, \"1\") %s", domain.EventID(c, 1), want)
	}

	// Two events from one command: ids by index, deterministic across calls,
	// and independent of the recording time.
	s := fold(t, with(base(), assessMedium()))
	cmd := assess("w-assess", domain.InstrumentODARA, 9, domain.RiskHigh, nil)
	a, err := domain.Decide(s, cmd, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.Decide(s, cmd, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("%d and %d events, want 2", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != evID("w-assess", i) || b[i].ID != a[i].ID {
			t.Errorf("event %d ids %s and %s, want %s", i, a[i].ID, b[i].ID, evID("w-assess", i))
		}
	}
	if a[0].ID == a[1].ID {
		t.Error("both events of one command share an id")
	}
}

// TestErasure: erasure is refused under an active legal hold (named), to
// a role that may not erase, and a second time; after it, the case takes
// nothing personal again, but the court's paperwork still goes on.
func TestErasure(t *testing.T) {
	hold := tid("hold/erase")
	erase := func(a domain.Actor, key string) domain.ErasePersonalData {
		return domain.ErasePersonalData{CommandHeader: hdr(a, key), PersonalDataErased: domain.PersonalDataErased{Scope: domain.ErasureScopeCase, Reason: "retention"}}
	}
	erased := with(base(), erase(supervisor, "erase"))
	erasePerson := func(key, person string) domain.ErasePersonalData {
		return domain.ErasePersonalData{CommandHeader: hdr(supervisor, key), PersonalDataErased: domain.PersonalDataErased{Scope: domain.ErasureScopePerson, PersonID: person, Reason: "request 2026-115"}}
	}
	personErased := with(base(), erasePerson("erase-person", "MNI-0000001"))
	erasedAll := erase(supervisor, "w").PersonalDataErased
	erasedAll.PartyIDs = baseParties()
	erasedVictim := erasePerson("w", "MNI-0000001").PersonalDataErased
	erasedVictim.PartyIDs = []uuid.UUID{victimID}
	for _, sc := range []scenario{
		{name: "under an active hold", given: with(base(), placeHold("hold", hold, "notes")), when: erase(supervisor, "w"), err: domain.ErrLegalHold, field: "case_id"},
		{name: "by an officer", given: base(), when: erase(officer, "w"), err: domain.ErrRoleNotAllowed, field: "actor.role"},
		{name: "twice", given: erased, when: erase(supervisor, "w"), err: domain.ErrInvalidTransition, field: "case_id"},
		{name: "a note after it", given: erased, when: addNote("w", hdr(supervisor, "w"), tid("note/after"), "after"), err: domain.ErrInvalidTransition, field: "case_id"},
		{name: "a hold after it", given: erased, when: placeHold("w", hold, "entire_case"), then: events(placeHold("w", hold, "entire_case").LegalHoldPlaced), comp: domain.CompartmentShared},
		{name: "after the hold is released", given: with(with(base(), placeHold("hold", hold, "notes")), releaseHold("rel", hold)), when: erase(supervisor, "w"),
			then: events(erasedAll), comp: domain.CompartmentShared},

		// A person: the parties that are that person, and only their values.
		{name: "a person", given: base(), when: erasePerson("w", "MNI-0000001"), then: events(erasedVictim), comp: domain.CompartmentShared},
		{name: "a person not of the case", given: base(), when: erasePerson("w", "MNI-9999999"), err: domain.ErrNotFound, field: "person_id"},
		{name: "a person without person_id", given: base(), when: erasePerson("w", ""), err: domain.ErrInvalidField, field: "person_id"},
		{name: "a person twice", given: personErased, when: erasePerson("w", "MNI-0000001"), err: domain.ErrInvalidTransition, field: "person_id"},
		{name: "a person under a hold", given: with(base(), placeHold("hold", hold, "notes")), when: erasePerson("w", "MNI-0000001"), err: domain.ErrLegalHold, field: "case_id"},
		{name: "a person, with party ids sent", given: base(), when: func() domain.Command {
			c := erasePerson("w", "MNI-0000001")
			c.PartyIDs = []uuid.UUID{suspectID}
			return c
		}(), err: domain.ErrInvalidField, field: "party_ids"},
		{name: "a safety plan for an erased person", given: personErased, when: createPlan("w", tid("plan/after")), err: domain.ErrInvalidTransition, field: "party_id"},
		{name: "a safety plan for another party", given: personErased, when: func() domain.Command {
			c := createPlan("w", tid("plan/other"))
			c.PartyID = childID
			return c
		}(), then: events(func() domain.EventData {
			c := createPlan("w", tid("plan/other"))
			c.PartyID = childID
			return c.SafetyPlanCreated
		}()), comp: domain.CompartmentSocialWork},
		{name: "a note after a person's erasure", given: personErased, when: addNote("w", hdr(supervisor, "w"), tid("note/person"), "after"),
			then: events(addNote("w", hdr(supervisor, "w"), tid("note/person"), "after").NoteAdded), comp: domain.CompartmentShared},
		{name: "the case after a person", given: personErased, when: erase(supervisor, "w"), then: events(erasedAll), comp: domain.CompartmentShared},
		{name: "a correction of the erased person's entry", given: personErased, when: correct(hdr(supervisor, "w"), evID("party-victim", 0), ""), err: domain.ErrInvalidTransition, field: "party_id"},
		{name: "a review of the erased person's plan", given: with(with(base(), createPlan("plan", tid("plan/erased"))), erasePerson("erase-person", "MNI-0000001")),
			when: domain.ReviewSafetyPlan{CommandHeader: hdr(worker, "w"), SafetyPlanReviewed: domain.SafetyPlanReviewed{PlanID: tid("plan/erased"), Changes: "new phone"}}, err: domain.ErrInvalidTransition, field: "party_id"},
	} {
		t.Run(sc.name, func(t *testing.T) { run(t, sc) })
	}
}

// baseParties are the parties of base(), in the order an erasure lists
// them.
func baseParties() []uuid.UUID {
	ids := []uuid.UUID{victimID, suspectID, childID}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// TestReservedPrefixRefused: a command may not carry a value in the
// store's encrypted form, personal or not: it would be kept as sent,
// outside encryption and erasure (or break every read of the case).
func TestReservedPrefixRefused(t *testing.T) {
	forged := domain.EncryptedPrefix + "c00000000-0000-0000-0000-000000000000:AAAA"
	call := receiveCall("w-call", "CAD-2025-000009")
	call.CADRef = forged
	for _, sc := range []scenario{
		{name: "a note's text", given: base(), when: addNote("w", hdr(supervisor, "w"), tid("note/forged"), forged), err: domain.ErrInvalidField, field: "text"},
		{name: "an id-like field", given: base(), when: call, err: domain.ErrInvalidField, field: "cad_ref"},
		{name: "the prefix inside a text", given: base(), when: addNote("w", hdr(supervisor, "w"), tid("note/inside"), "see "+forged),
			then: events(addNote("w", hdr(supervisor, "w"), tid("note/inside"), "see "+forged).NoteAdded), comp: domain.CompartmentShared},
	} {
		t.Run(sc.name, func(t *testing.T) { run(t, sc) })
	}
}

// TestEntityUnderAPartysID: a statement (or any entity) created under the
// id of one of the case's parties is refused.
func TestEntityUnderAPartysID(t *testing.T) {
	plan := createPlan("w", victimID)
	run(t, scenario{name: "a plan under the victim's id", given: base(), when: plan, err: domain.ErrDuplicate, field: "plan_id"})
}
