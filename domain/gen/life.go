package gen

import (
	"fmt"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// run plays one case life from the call to closure, and sometimes beyond.
func (l *life) run() {
	g := l.g
	l.incident()
	l.assess(l.officer, pick(g, domain.InstrumentODARA, domain.InstrumentDASH, domain.InstrumentQCHomicideGrid), "police_records")
	l.highRiskResponse()
	// Some files are still in the middle of their life, and some of those
	// are not assigned to a worker yet.
	stillOpen := g.chance(0.2)
	if !stillOpen || g.chance(0.7) {
		l.do(domain.AssignCase{CommandHeader: l.hdr(l.super), CaseAssigned: domain.CaseAssigned{Assignee: l.worker.UserID, Agency: policeAgency}})
	}
	l.wait(2*hour, 2*day)
	l.victimSide()
	l.aggressorSide()
	for range g.rng.IntN(4) {
		l.wait(3*day, 20*day)
		l.followUp(l.victim, l.clock.Add(time.Duration(g.rng.IntN(10)+1)*day))
		l.note()
	}
	if l.cond != uuid.Nil && g.chance(0.3) {
		l.breach()
	}
	if g.chance(0.5) {
		l.wait(7*day, 30*day)
		l.assess(l.worker, pick(g, domain.InstrumentDangerAssessment, domain.InstrumentSARA, domain.InstrumentBSAFER), "victim")
		l.highRiskResponse()
	}
	l.paperwork()
	if stillOpen {
		return
	}
	l.close()
	if g.chance(0.12) {
		l.wait(20*day, 120*day)
		l.do(domain.ReopenCase{CommandHeader: l.hdr(l.officer), CaseReopened: domain.CaseReopened{Trigger: pick[domain.ReopenTrigger](g, "new_incident", "breach", "client_request")}})
		l.call()
		l.assess(l.officer, domain.InstrumentODARA, "police_records")
		l.highRiskResponse()
		l.close()
	}
}

func (l *life) call() {
	g := l.g
	l.do(domain.ReceiveCall{CommandHeader: l.hdr(l.cad), CallReceived: domain.CallReceived{
		CADRef: fmt.Sprintf("CAD-%d-%06d-%d", l.clock.Year(), g.rng.IntN(1_000_000), len(l.c.State.CADRefs)), Channel: pick[domain.Channel](g, "911", "911", "911", "walk_in", "third_party", "partner"),
		Address: fmt.Sprintf("%d rue des Érables, app. %d", g.rng.IntN(9000)+1, g.rng.IntN(40)+1), NatureCode: pick(g, "VC-01", "VC-02", "MEN-03", "AGR-10"),
		Priority: g.rng.IntN(3) + 1, ConjugalContext: true,
	}})
}

func (l *life) incident() {
	g := l.g
	l.do(domain.OpenCase{CommandHeader: l.hdr(l.cad), CaseOpened: domain.CaseOpened{Module: pick[domain.Module](g, "victim_support", "victim_support", "joint"), Agency: policeAgency}})
	l.call()
	l.do(domain.CheckAddressHistory{CommandHeader: l.hdr(l.cad), AddressHistoryChecked: domain.AddressHistoryChecked{PriorCalls: g.rng.IntN(6)}})
	l.wait(5*time.Minute, 25*time.Minute)
	arrived := l.clock
	l.wait(30*time.Minute, 3*hour)
	actions := []domain.InterventionAction{"separation"}
	arrest := g.chance(0.45)
	if arrest {
		actions = append(actions, "arrest")
	}
	if g.chance(0.2) {
		actions = append(actions, "transport_to_shelter")
	}
	l.do(domain.RecordIntervention{CommandHeader: l.hdr(l.officer), InterventionRecorded: domain.InterventionRecorded{
		Units: []string{fmt.Sprintf("%d-%d", g.rng.IntN(50)+10, g.rng.IntN(9)+1)}, ArrivedAt: arrived, ClearedAt: l.clock, Actions: actions}})

	rel := pick[domain.Relationship](g, "spouse", "ex_spouse", "common_law", "ex_common_law", "dating", "ex_dating")
	cohab := rel == "spouse" || rel == "common_law"
	children := 0
	if g.chance(0.5) {
		children = g.rng.IntN(3) + 1
	}
	l.victim = l.party(domain.PartyVictim, g.person(0.15), rel, cohab, children)
	l.vPerson = l.c.State.Parties[l.victim].PersonID
	l.suspect = l.party(domain.PartySuspect, g.person(0.1), rel, cohab, children)
	for range min(children, 2) {
		if g.chance(0.5) {
			l.party(domain.PartyChild, g.person(0), "child", cohab, 0)
		}
	}
	if prev, ok := g.byVict[l.vPerson]; ok && prev != l.c.ID {
		l.do(domain.LinkCases{CommandHeader: l.hdr(l.officer), CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{prev}, Reason: "same_victim"}})
	}
	g.byVict[l.vPerson] = l.c.ID

	if g.chance(0.7) {
		l.do(domain.TakeStatement{CommandHeader: l.hdr(l.officer), StatementTaken: domain.StatementTaken{
			StatementID: g.id(l.clock), PartyID: l.victim, Kind: pick[domain.StatementKind](g, "written", "video", "kgb"), MediaRef: fmt.Sprintf("dems://statements/%d", g.rng.IntN(1e9)), SHA256: g.hash()}})
	}
	if g.chance(0.6) {
		ev := g.id(l.clock)
		l.do(domain.LogEvidence{CommandHeader: l.hdr(l.officer), EvidenceLogged: domain.EvidenceLogged{
			EvidenceID: ev, Description: "photographs of injuries", MediaRef: fmt.Sprintf("dems://exhibits/%d", g.rng.IntN(1e9)), SHA256: g.hash(), Custodian: l.officer.UserID}})
		if g.chance(0.5) {
			l.do(domain.TransferEvidence{CommandHeader: l.hdr(l.officer), EvidenceTransferred: domain.EvidenceTransferred{EvidenceID: ev, From: l.officer.UserID, To: "property-room", Reason: "storage"}})
		}
	}
	if arrest {
		l.do(domain.MakeArrest{CommandHeader: l.hdr(l.officer), ArrestMade: domain.ArrestMade{PartyID: l.suspect, Charges: []string{pick(g, "266 Cr.C. assault", "267 Cr.C. assault with a weapon", "264.1 Cr.C. uttering threats", "264 Cr.C. criminal harassment")}}})
		l.conditions(pick[domain.ConditionKind](g, "undertaking", "release_conditions"))
		if g.chance(0.7) {
			l.do(domain.SubmitFileToProsecutor{CommandHeader: l.hdr(l.officer), FileSubmittedToProsecutor: domain.FileSubmittedToProsecutor{
				FileRef: fmt.Sprintf("DPCP-%06d", g.rng.IntN(1e6)), Office: "dpcp-lavallee", Charges: []string{"266 Cr.C."}}})
		}
	}
	clearance := domain.Clearance("not_cleared")
	if arrest {
		clearance = "cleared_by_charge"
	}
	l.do(domain.ClassifyIncident{CommandHeader: l.hdr(l.officer), IncidentClassified: domain.IncidentClassified{UCRCode: pick(g, "1430", "1440", "1627", "1625"), Clearance: clearance}})
	if g.chance(0.15) {
		l.do(domain.FlagCase{CommandHeader: l.hdr(l.officer), CaseFlagged: domain.CaseFlagged{FlagID: g.id(l.clock), Kind: pick[domain.FlagKind](g, "weapons", "children_at_risk", "strangulation_history", "language_barrier")}})
	}
	l.note()
}

func (l *life) party(role domain.PartyRole, person string, rel domain.Relationship, cohab bool, children int) uuid.UUID {
	g := l.g
	for l.onCase(person) { // a person is a party to a case once
		person = g.person(0)
	}
	id := g.id(l.clock)
	var contact []domain.SafeContact
	if role == domain.PartyVictim {
		contact = []domain.SafeContact{{Method: pick[domain.ContactMethod](g, "phone", "sms", "through_shelter"), Details: fmt.Sprintf("514-555-%04d", g.rng.IntN(10000)), Hours: "weekdays 9-17"}}
	}
	l.do(domain.IdentifyParty{CommandHeader: l.hdr(l.officer), PartyIdentified: domain.PartyIdentified{
		PartyID: id, PersonID: person, Role: role, Relationship: rel, Cohabiting: cohab, ChildrenInCommon: children,
		Language: pick(g, "fr", "fr", "en", "es", "ar"), SafeContact: contact}})
	return id
}

func (l *life) onCase(person string) bool {
	for _, p := range l.c.State.Parties {
		if p.PersonID == person {
			return true
		}
	}
	return false
}

func (l *life) conditions(kind domain.ConditionKind) {
	g := l.g
	if l.cond != uuid.Nil && l.c.State.Conditions[l.cond].Active {
		return
	}
	l.cond = g.id(l.clock)
	l.do(domain.ImposeConditions{CommandHeader: l.hdr(l.officer), ConditionsImposed: domain.ConditionsImposed{
		ConditionID: l.cond, Kind: kind, BoundPartyID: l.suspect, ProtectedPartyIDs: []uuid.UUID{l.victim},
		NoContact: true, DistanceMetres: pick(g, 0, 100, 300, 500), WeaponsProhibited: g.chance(0.8),
		Issuer: pick(g, "officer-in-charge", "court-lavallee"), StartsAt: l.clock, EndsAt: l.clock.Add(time.Duration(g.rng.IntN(300)+60) * day)}})
}

// bands holds each instrument's medium and high cut-offs on its total score.
var bands = map[domain.Instrument][2]int{
	domain.InstrumentODARA: {3, 7}, domain.InstrumentDASH: {10, 14}, domain.InstrumentDangerAssessment: {8, 14},
	domain.InstrumentSARA: {11, 21}, domain.InstrumentBSAFER: {9, 17}, domain.InstrumentQCHomicideGrid: {6, 11},
}

// BandFor returns the band a score falls in on an instrument.
func BandFor(i domain.Instrument, score int) domain.RiskBand {
	cut := bands[i]
	switch {
	case score >= cut[1]:
		return domain.RiskHigh
	case score >= cut[0]:
		return domain.RiskMedium
	}
	return domain.RiskLow
}

func (l *life) assess(by domain.Actor, inst domain.Instrument, informant domain.Informant) {
	g := l.g
	a := domain.RiskAssessmentCompleted{AssessmentID: g.id(l.clock), Instrument: inst, InstrumentVersion: "2", PartyID: l.victim, Informant: informant}
	// Items answered yes/no/unknown where an instrument counts yeses; rated
	// instruments only carry the total.
	top := inst.MaxScore()
	lean := g.rng.Float64() // how dangerous this situation is
	if inst == domain.InstrumentODARA || inst == domain.InstrumentDASH || inst == domain.InstrumentQCHomicideGrid {
		for i := range top {
			ans := domain.Answer("no")
			switch r := g.rng.Float64(); {
			case r < lean*0.8:
				ans = "yes"
				a.Score++
			case r > 0.93:
				ans = "unknown"
			}
			a.Items = append(a.Items, domain.ItemAnswer{Item: fmt.Sprintf("%s.%02d", inst, i+1), Answer: ans})
		}
	} else {
		a.Score = int(lean * float64(top))
	}
	a.Band = BandFor(inst, a.Score)
	if a.Band != domain.RiskHigh && g.chance(0.08) {
		a.Override = &domain.Override{Band: domain.RiskHigh, Reason: "recent strangulation and separation underway"}
	}
	l.do(domain.CompleteRiskAssessment{CommandHeader: l.hdr(by), RiskAssessmentCompleted: a})
}

// highRiskResponse answers a high band: escalation, a victim contact within
// two working days (sometimes missed), and sometimes the rapid-response cell.
func (l *life) highRiskResponse() {
	g := l.g
	s := &l.c.State
	if s.Risk != domain.RiskHigh || len(s.UnmetContacts()) == 0 {
		return
	}
	if !s.Escalated {
		l.do(domain.EscalateHighRisk{CommandHeader: l.hdr(l.officer), HighRiskEscalated: domain.HighRiskEscalated{To: "cellule-intervention-rapide", Reason: "high band"}})
	}
	// In practice: the victim contact is due two working days after the
	// band went high or the breach was reported; most are planned in time.
	due := s.UnmetContacts()[0].DueBy.Add(-time.Duration(g.rng.IntN(30)) * hour)
	if due.Before(l.clock) {
		due = l.clock.Add(hour)
	}
	if g.chance(0.15) {
		due = due.Add(time.Duration(g.rng.IntN(5)+1) * day) // missed: scheduled too late
	}
	l.followUp(l.victim, due)
	if !s.Rapid.Active && s.Rapid.CellID == uuid.Nil && g.chance(0.5) {
		cell := g.id(l.clock)
		l.do(domain.ActivateRapidResponse{CommandHeader: l.hdr(l.super), RapidResponseActivated: domain.RapidResponseActivated{CellID: cell, Partners: []string{policeAgency, partners["cavac"], partners["health_social_services"]}}})
		for range g.rng.IntN(3) + 1 {
			l.do(domain.AssignRapidResponseAction{CommandHeader: l.hdr(l.super), RapidResponseActionAssigned: domain.RapidResponseActionAssigned{
				CellID: cell, ActionID: g.id(l.clock), Action: pick(g, "safety visit", "shelter placement", "bracelet request", "aggressor contact"),
				Owner: pick(g, policeAgency, partners["cavac"], partners["health_social_services"]), DueBy: l.clock.Add(2 * day)}})
		}
		if g.chance(0.4) {
			l.do(domain.ShareInformationWithoutConsent{CommandHeader: l.hdr(l.super), InformationSharedWithoutConsent: domain.InformationSharedWithoutConsent{
				LegalBasis: "serious_risk_of_death_or_injury", Recipients: []string{partners["cavac"], partners["health_social_services"]}, DataShared: []string{"identity", "risk_band", "conditions"}, AuthorisedBy: l.super}})
		}
		l.wait(2*day, 10*day)
		l.do(domain.CloseRapidResponse{CommandHeader: l.hdr(l.super), RapidResponseClosed: domain.RapidResponseClosed{CellID: cell, Outcome: "actions completed"}})
	}
}

// followUp schedules a contact and plays it out: reached, attempts first,
// cancelled, or left open (missed).
func (l *life) followUp(party uuid.UUID, due time.Time) {
	g := l.g
	id := g.id(l.clock)
	l.do(domain.ScheduleFollowUp{CommandHeader: l.hdr(l.worker), FollowUpScheduled: domain.FollowUpScheduled{
		FollowUpID: id, PartyID: party, Kind: pick[domain.FollowUpKind](g, "call", "call", "visit", "court_accompaniment"), DueBy: due, Assignee: l.worker.UserID}})
	for range g.rng.IntN(3) {
		l.wait(2*hour, day)
		l.do(domain.AttemptFollowUp{CommandHeader: l.hdr(l.worker), FollowUpAttempted: domain.FollowUpAttempted{FollowUpID: id, Outcome: pick[domain.AttemptOutcome](g, "no_answer", "unsafe_to_talk", "left_message")}})
	}
	l.wait(hour, 3*day)
	switch r := g.rng.Float64(); {
	case r < 0.75:
		l.do(domain.CompleteFollowUp{CommandHeader: l.hdr(l.worker), FollowUpCompleted: domain.FollowUpCompleted{FollowUpID: id, NextStep: "continue support"}})
	case r < 0.85:
		l.do(domain.CancelFollowUp{CommandHeader: l.hdr(l.worker), FollowUpCancelled: domain.FollowUpCancelled{FollowUpID: id, Reason: "client moved to shelter"}})
	}
}

// victimSide: consent, referrals, a safety plan.
func (l *life) victimSide() {
	g := l.g
	consented := g.chance(0.75)
	dest := pick[domain.Destination](g, "shelter", "cavac", "cavac", "health_social_services")
	if consented {
		l.do(domain.RecordConsent{CommandHeader: l.hdr(l.worker), ConsentRecorded: domain.ConsentRecorded{
			ConsentID: g.id(l.clock), PartyID: l.victim, Scope: "sharing", Destination: dest, FormVersion: "2024-03", Method: pick[domain.ConsentMethod](g, "verbal", "written")}})
	}
	ref := g.id(l.clock)
	l.do(domain.OfferReferral{CommandHeader: l.hdr(l.worker), ReferralOffered: domain.ReferralOffered{ReferralID: ref, Destination: dest, PartyID: l.victim}})
	l.wait(hour, 2*day)
	switch {
	case consented && g.chance(0.85):
		l.send(ref, dest, l.victim, nil)
	case !consented && l.c.State.Risk == domain.RiskHigh:
		l.send(ref, dest, l.victim, &domain.InformationSharedWithoutConsent{
			LegalBasis: "serious_risk_of_death_or_injury", Recipients: []string{partners[dest]}, DataShared: []string{"identity", "risk_band", "safe_contact"}, AuthorisedBy: l.super})
	default:
		l.do(domain.RecordReferralDeclined{CommandHeader: l.hdr(l.worker), ReferralDeclinedByClient: domain.ReferralDeclinedByClient{ReferralID: ref, Reason: "not ready"}})
	}
	if consented && g.chance(0.1) {
		l.wait(day, 10*day)
		for _, k := range l.c.State.Consents {
			if k.Active && k.PartyID == l.victim {
				l.do(domain.WithdrawConsent{CommandHeader: l.hdr(l.worker), ConsentWithdrawn: domain.ConsentWithdrawn{ConsentID: k.ID}})
			}
		}
		switch l.c.State.Referrals[ref].Status {
		case domain.ReferralSentStatus, domain.ReferralAcceptedStatus, domain.ReferralStartedStatus:
			l.do(domain.RevokeReferral{CommandHeader: l.hdr(l.worker), ReferralRevoked: domain.ReferralRevoked{ReferralID: ref, Reason: "consent withdrawn"}})
		}
	}
	if g.chance(0.6) {
		plan := g.id(l.clock)
		l.do(domain.CreateSafetyPlan{CommandHeader: l.hdr(l.worker), SafetyPlanCreated: domain.SafetyPlanCreated{
			PlanID: plan, PartyID: l.victim, SafeContacts: []string{"sister"}, ShelterOption: g.chance(0.5), ChildrenPlan: g.chance(0.4), TechnologySafety: g.chance(0.7), NextReviewBy: l.clock.Add(30 * day)}})
		if g.chance(0.5) {
			l.wait(10*day, 40*day)
			l.do(domain.ReviewSafetyPlan{CommandHeader: l.hdr(l.worker), SafetyPlanReviewed: domain.SafetyPlanReviewed{PlanID: plan, Changes: "new phone", NextReviewBy: l.clock.Add(60 * day)}})
		}
	}
	if g.chance(0.3) {
		l.do(domain.NotifyVictim{CommandHeader: l.hdr(l.officer), VictimNotified: domain.VictimNotified{PartyID: l.victim, About: pick[domain.NotificationEvent](g, "court_date", "release"), Channel: "phone", EventAt: l.clock.Add(14 * day)}})
	}
}

// send sends a referral and plays the partner's answer.
func (l *life) send(ref uuid.UUID, dest domain.Destination, party uuid.UUID, without *domain.InformationSharedWithoutConsent) {
	g := l.g
	var consent uuid.UUID
	for _, k := range l.c.State.Consents {
		if k.Active && k.PartyID == party && k.Destination == dest {
			consent = k.ID
		}
	}
	l.do(domain.SendReferral{CommandHeader: l.hdr(l.worker), ReferralSent: domain.ReferralSent{
		ReferralID: ref, Destination: dest, Agency: partners[dest], PartyID: party, ConsentID: consent, DataShared: []string{"identity", "risk_band"}}, WithoutConsent: without})
	partner := domain.Actor{UserID: "intake-" + string(dest), Role: domain.RolePartner, Agency: partners[dest]}
	l.wait(hour, 4*day)
	switch r := g.rng.Float64(); {
	case r < 0.7:
		l.do(domain.AcceptReferral{CommandHeader: l.hdr(partner), ReferralAccepted: domain.ReferralAccepted{ReferralID: ref}})
		l.wait(day, 7*day)
		l.do(domain.StartService{CommandHeader: l.hdr(partner), ServiceStarted: domain.ServiceStarted{ReferralID: ref}})
		if g.chance(0.7) {
			l.wait(7*day, 60*day)
			l.do(domain.CompleteService{CommandHeader: l.hdr(partner), ServiceCompleted: domain.ServiceCompleted{ReferralID: ref, Outcome: pick(g, "goals met", "client stopped attending")}})
		}
	case r < 0.9:
		l.do(domain.RejectReferral{CommandHeader: l.hdr(partner), ReferralRejected: domain.ReferralRejected{ReferralID: ref, Reason: pick(g, "no place available", "outside territory")}})
	default:
		l.do(domain.RevokeReferral{CommandHeader: l.hdr(l.worker), ReferralRevoked: domain.ReferralRevoked{ReferralID: ref, Reason: "client changed mind"}})
	}
}

// aggressorSide: a referral of the suspect to an aggressor programme, with
// his consent, and a follow-up with him.
func (l *life) aggressorSide() {
	g := l.g
	if !g.chance(0.5) {
		return
	}
	l.do(domain.RecordConsent{CommandHeader: l.hdr(l.worker), ConsentRecorded: domain.ConsentRecorded{
		ConsentID: g.id(l.clock), PartyID: l.suspect, Scope: "sharing", Destination: "aggressor_programme", Method: "written", FormVersion: "2024-03"}})
	ref := g.id(l.clock)
	l.do(domain.OfferReferral{CommandHeader: l.hdr(l.worker), ReferralOffered: domain.ReferralOffered{ReferralID: ref, Destination: "aggressor_programme", PartyID: l.suspect}})
	if g.chance(0.3) {
		l.do(domain.RecordReferralDeclined{CommandHeader: l.hdr(l.worker), ReferralDeclinedByClient: domain.ReferralDeclinedByClient{ReferralID: ref, Reason: "denies the facts"}})
		return
	}
	l.send(ref, "aggressor_programme", l.suspect, nil)
	l.followUp(l.suspect, l.clock.Add(7*day))
}

func (l *life) breach() {
	g := l.g
	b := g.id(l.clock)
	l.wait(day, 30*day)
	l.do(domain.ReportBreach{CommandHeader: l.hdr(l.officer), BreachReported: domain.BreachReported{BreachID: b, ConditionID: l.cond, Source: pick[domain.BreachSource](g, "victim", "bracelet_alert", "patrol")}})
	l.do(domain.ActionBreach{CommandHeader: l.hdr(l.officer), BreachActioned: domain.BreachActioned{BreachID: b, Action: pick[domain.BreachAction](g, "arrest", "warrant_requested", "report_to_prosecutor")}})
	if g.chance(0.4) {
		l.do(domain.VaryConditions{CommandHeader: l.hdr(l.officer), ConditionsVaried: domain.ConditionsVaried{
			ConditionID: l.cond, DistanceMetres: ptr(pick(g, 300, 500, 1000)), Reason: "breach: distance increased by the court"}})
	}
	if l.c.State.Risk != domain.RiskHigh {
		l.do(domain.ChangeRiskLevel{CommandHeader: l.hdr(l.officer), To: domain.RiskHigh, Trigger: "breach"})
	}
	l.highRiskResponse()
	if len(l.c.State.UnmetContacts()) > 0 && g.chance(0.85) {
		l.followUp(l.victim, domain.AddWorkingDays(l.clock, 1))
	}
}

// note adds a note on the author's side; some are later corrected, redacted
// or marked in error. One officer's note in four reports what a
// confidential informant said, and is sealed: recorded, never shown
// without a court order. Which one is read from the note id already drawn,
// so that sealing draws nothing and every seed's cases keep their shape.
func (l *life) note() {
	g := l.g
	by := pick(g, l.officer, l.worker)
	h := l.hdr(by)
	noteID := g.id(l.clock)
	text := pick(g,
		"Victim reports threats by text message since the separation.",
		"Suspect called the victim's workplace twice this week.",
		"Client is staying with her sister; children at school as usual.",
		"Discussed the safety plan; client wants to keep the apartment.")
	sealed := by == l.officer && noteID[15]%4 == 0
	if sealed {
		h.Compartment = domain.CompartmentSealed
		text = "A confidential informant reports a firearm kept at the residence."
	}
	ev := l.do(domain.AddNote{CommandHeader: h, NoteAdded: domain.NoteAdded{NoteID: noteID, Text: text}})
	if len(ev) == 0 {
		return
	}
	l.notes = append(l.notes, ev[0].ID)
	switch r := g.rng.Float64(); {
	case sealed:
		// No one on the case sees it to correct it.
	case r < 0.1:
		l.do(domain.CorrectEntry{CommandHeader: l.hdr(by), EntryCorrected: domain.EntryCorrected{TargetEventID: ev[0].ID, Changes: []domain.FieldChange{{Field: "text", Value: "Suspect called the victim's workplace three times this week."}}, Reason: "wrong count"}})
	case r < 0.13:
		l.do(domain.MarkEntryInError{CommandHeader: l.hdr(by), EntryMarkedInError: domain.EntryMarkedInError{TargetEventID: ev[0].ID, Reason: "note entered on the wrong file"}})
	case r < 0.15:
		l.do(domain.RedactEntry{CommandHeader: l.hdr(l.super), EntryRedacted: domain.EntryRedacted{TargetEventID: ev[0].ID, Fields: []string{"text"}, LegalBasis: "third-party information"}})
	}
}

// paperwork: transfers, legal holds, production orders and disclosure.
func (l *life) paperwork() {
	g := l.g
	if g.chance(0.1) {
		t := g.id(l.clock)
		l.do(domain.RequestTransfer{CommandHeader: l.hdr(l.worker), TransferRequested: domain.TransferRequested{TransferID: t, ToAgency: "police-riviere", ToUser: "sw-r1", Reason: "victim moved"}})
		l.wait(day, 5*day)
		if g.chance(0.7) {
			l.do(domain.AcceptTransfer{CommandHeader: l.hdr(l.super), TransferAccepted: domain.TransferAccepted{TransferID: t}})
		} else {
			l.do(domain.RejectTransfer{CommandHeader: l.hdr(l.super), TransferRejected: domain.TransferRejected{TransferID: t, Reason: "outside territory"}})
		}
	}
	for _, f := range l.c.State.Flags {
		if f.Open && g.chance(0.6) {
			l.do(domain.ResolveFlag{CommandHeader: l.hdr(l.officer), FlagResolved: domain.FlagResolved{FlagID: f.ID, Resolution: "weapons seized"}})
		}
	}
	if g.chance(0.1) {
		order := g.id(l.clock)
		l.do(domain.PlaceLegalHold{CommandHeader: l.hdr(l.super), LegalHoldPlaced: domain.LegalHoldPlaced{HoldID: g.id(l.clock), Matter: fmt.Sprintf("500-01-%06d-25", g.rng.IntN(1e6)), Scope: "entire_case"}})
		l.do(domain.ReceiveProductionOrder{CommandHeader: l.hdr(l.officer), ProductionOrderReceived: domain.ProductionOrderReceived{
			OrderID: order, Court: "Cour du Québec, chambre criminelle", FileRef: fmt.Sprintf("500-01-%06d-25", g.rng.IntN(1e6)), Scope: "police file", IssuedAt: l.clock.Add(-day)}})
		var items []domain.DisclosedItem
		for _, s := range l.c.Steps {
			for _, e := range s.Events {
				if e.Meta.Compartment == domain.CompartmentPolice {
					items = append(items, domain.DisclosedItem{EventID: e.ID, SHA256: g.hash()})
				}
			}
		}
		if len(items) > 0 {
			l.do(domain.ProduceDisclosure{CommandHeader: l.hdr(l.officer), DisclosureProduced: domain.DisclosureProduced{DisclosureID: g.id(l.clock), Recipient: "prosecutor", OrderID: order, Items: items}})
		}
	}
}

// close ends conditions that ran their course, then closes, through a
// supervisor when the case is high risk, with a justification for what is
// still open.
func (l *life) close() {
	g := l.g
	l.wait(30*day, 120*day)
	s := &l.c.State
	for _, c := range s.Conditions {
		if c.Active && g.chance(0.6) {
			l.do(domain.EndConditions{CommandHeader: l.hdr(l.officer), ConditionsEnded: domain.ConditionsEnded{ConditionID: c.ID, Reason: "expired"}})
		}
	}
	reason := pick[domain.ClosureReason](g, "risk_reduced", "services_completed", "client_request", "no_contact_possible")
	if s.Risk == domain.RiskHigh {
		l.do(domain.RequestClosure{CommandHeader: l.hdr(l.worker), ClosureRequested: domain.ClosureRequested{Reason: reason}})
		if g.chance(0.25) {
			l.do(domain.RejectClosure{CommandHeader: l.hdr(l.super), ClosureRejected: domain.ClosureRejected{Reason: "bracelet still active; review in a month"}})
			l.wait(20*day, 40*day)
			l.do(domain.RequestClosure{CommandHeader: l.hdr(l.worker), ClosureRequested: domain.ClosureRequested{Reason: reason}})
		}
		l.do(domain.ApproveClosure{CommandHeader: l.hdr(l.super), ClosureApproved: domain.ClosureApproved{Comment: "risk managed by partners"}})
	}
	for _, h := range s.Holds {
		if h.Active && g.chance(0.5) {
			l.do(domain.ReleaseLegalHold{CommandHeader: l.hdr(l.super), LegalHoldReleased: domain.LegalHoldReleased{HoldID: h.ID, Reason: "matter concluded"}})
		}
	}
	var why string
	if s.ActiveConditions() > 0 || s.OpenFollowUps() > 0 {
		why = "conditions run to term under probation follow-up; open contacts handed to CAVAC"
	}
	l.do(domain.CloseCase{CommandHeader: l.hdr(l.worker), CaseClosed: domain.CaseClosed{Reason: reason, Justification: why}})
}

func ptr[T any](v T) *T { return &v }
