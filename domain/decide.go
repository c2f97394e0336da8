package domain

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Decide returns the events that cmd produces on a case in state s, recorded
// at now. It never modifies s. Event ids are derived from the command id and
// the event's index (uuid v5), so deciding the same command on the same state
// at the same time always yields the same events and a re-delivered command
// is absorbed by the store's idempotency.
//
// Errors (all comparable with errors.Is, most wrapped in a *FieldError naming
// the field): ErrUnknownCommand, ErrInvalidField, ErrCaseNotFound,
// ErrCaseExists, ErrCaseMismatch, ErrCaseClosed, ErrRoleNotAllowed,
// ErrNotAddressee, ErrCompartmentWidened, ErrUnknownParty, ErrDuplicate,
// ErrNotFound, ErrInvalidTransition, ErrNoConsent, ErrApprovalRequired,
// ErrCaseNotClosed,
// ErrOpenItems, ErrUnknownEntry, ErrNoChange, ErrNotHighRisk,
// ErrCustodyMismatch, ErrLegalHold, ErrOrderRequired.
func Decide(s State, cmd Command, now time.Time) ([]Event, error) {
	name := CommandName(cmd)
	if name == "" {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	h := cmd.Head()
	if err := validateShape(cmd, now); err != nil {
		return nil, err
	}
	if err := noReservedPrefix(cmd); err != nil {
		return nil, err
	}
	if err := checkHeader(s, h, cmd, now); err != nil {
		return nil, err
	}
	d := decider{s: s, h: h, at: h.OccurredAt}
	data, err := d.decide(cmd)
	if err != nil {
		return nil, err
	}
	if err := aboutErasedParty(s, data); err != nil {
		return nil, err
	}
	if err := entityIsParty(s, data); err != nil {
		return nil, err
	}
	events := make([]Event, len(data))
	for i, p := range data {
		comp := d.compartment
		if comp == "" {
			comp = SpecOf(p).Compartment
			if h.Compartment != "" {
				if !h.Compartment.NarrowerOrEqual(comp) {
					return nil, fieldErr(ErrCompartmentWidened, "compartment", "wider than "+string(comp))
				}
				comp = h.Compartment
			}
		}
		corr := h.CorrelationID
		if corr == uuid.Nil {
			corr = h.CommandID
		}
		events[i] = Event{
			ID:     EventID(h.CommandID, i),
			CaseID: h.CaseID,
			Meta: Meta{
				Actor: h.Actor, OccurredAt: h.OccurredAt, RecordedAt: now,
				SourceSystem: h.SourceSystem, CorrelationID: corr, CausationID: h.CommandID,
				Compartment: comp,
			},
			Data: p,
		}
	}
	return events, nil
}

// EventID is the id of the index-th event produced by a command (uuid v5 of
// the command id and the index).
func EventID(commandID uuid.UUID, index int) uuid.UUID {
	return uuid.NewSHA1(commandID, []byte(strconv.Itoa(index)))
}

// allowedWhenClosed lists what may still happen on a closed case: reopening,
// notes, corrections, disclosure and the court's own paperwork.
func allowedWhenClosed(cmd Command) bool {
	switch cmd.(type) {
	case ReopenCase, AddNote, CorrectEntry, RedactEntry, MarkEntryInError,
		ProduceDisclosure, ReceiveProductionOrder, PlaceLegalHold, ReleaseLegalHold, ErasePersonalData:
		return true
	}
	return false
}

// allowedWhenErased lists what may still happen to a case whose personal
// data was erased: the court's paperwork, which carries none.
func allowedWhenErased(cmd Command) bool {
	switch cmd.(type) {
	case ProduceDisclosure, ReceiveProductionOrder, PlaceLegalHold, ReleaseLegalHold:
		return true
	}
	return false
}

func checkHeader(s State, h CommandHeader, cmd Command, now time.Time) error {
	if h.OccurredAt.After(now.Add(MaxFutureSkew)) {
		return invalid("occurred_at", "in the future")
	}
	open, opening := cmd.(OpenCase)
	switch {
	case s.Status == StatusNone && !opening:
		return ErrCaseNotFound
	case s.Status != StatusNone && !opening && !knows(s, h.Actor):
		// A case that has nothing to do with the actor's agency is answered
		// as an unknown one: the refusal must not tell that it exists, nor
		// anything of it.
		return ErrCaseNotFound
	case opening && open.Agency != h.Actor.Agency:
		return fieldErr(ErrRoleNotAllowed, "agency", "a case is opened by its own agency")
	case s.Status != StatusNone && opening:
		return ErrCaseExists
	case s.Status != StatusNone && h.CaseID != s.ID:
		return fieldErr(ErrCaseMismatch, "case_id", "not this case")
	case s.Status == StatusClosed && !allowedWhenClosed(cmd):
		return ErrCaseClosed
	case s.Erased != nil && !allowedWhenErased(cmd):
		// Its data key is destroyed: nothing personal is written again.
		return transition("case_id", "erased", "erased")
	}
	switch h.Actor.Role {
	case RoleAuditor:
		if _, ok := cmd.(ProduceDisclosure); !ok {
			return fieldErr(ErrRoleNotAllowed, "actor.role", "auditors only produce disclosures")
		}
	case RolePartner:
		switch cmd.(type) {
		case AcceptReferral, RejectReferral, StartService, CompleteService:
		default:
			return fieldErr(ErrRoleNotAllowed, "actor.role", "partner agencies only answer their referrals")
		}
	}
	if s.Status != StatusNone && !opening && !mayWrite(s, h.Actor, cmd) {
		return fieldErr(ErrRoleNotAllowed, "actor.agency", "the case is held by another agency")
	}
	return nil
}

// knows reports whether the actor's agency has anything to do with the
// case: it holds it or held it, the case is or was shared with it, a
// transfer to it is pending, or a referral is addressed to it.
func knows(s State, a Actor) bool {
	for _, g := range s.Grants {
		if g.Agency == a.Agency {
			return true
		}
	}
	if s.Transfer != nil && s.Transfer.ToAgency == a.Agency {
		return true
	}
	for _, r := range s.Referrals {
		if r.Agency == a.Agency && !r.SentAt.IsZero() {
			return true
		}
	}
	return false
}

// mayWrite reports whether the actor's agency may record on the case: the
// agency that holds it (opened it, or took it by a transfer), a transfer's
// receiving agency answering it, and a partner agency answering a referral
// addressed to it. An agency the case is only shared with reads it and
// records nothing on it.
func mayWrite(s State, a Actor, cmd Command) bool {
	for _, g := range s.Grants {
		if g.Agency == a.Agency && g.Until < 0 && (g.Basis == GrantOwner || g.Basis == GrantTransfer) {
			return true
		}
	}
	switch cmd.(type) {
	case AcceptTransfer, RejectTransfer:
		return s.Transfer != nil && s.Transfer.ToAgency == a.Agency
	case AcceptReferral, RejectReferral, StartService, CompleteService:
		// Which referral is the partner's own is the referral's rule.
		return a.Role == RolePartner
	}
	return false
}

// decider holds what one decision needs; its methods are the rules.
type decider struct {
	s           State
	h           CommandHeader
	at          time.Time
	compartment Compartment // set when the target entry, not the type, decides it
}

func (d *decider) party(field string, id uuid.UUID) (Party, error) {
	p, ok := d.s.Parties[id]
	if !ok {
		return Party{}, fieldErr(ErrUnknownParty, field, "not identified on this case")
	}
	return p, nil
}

func (d *decider) fresh(field string, exists bool) error {
	if exists {
		return fieldErr(ErrDuplicate, field, "already used on this case")
	}
	return nil
}

func notFound(field string) error { return fieldErr(ErrNotFound, field, "not on this case") }

func transition(field string, from any, to string) error {
	return fieldErr(ErrInvalidTransition, field, fmt.Sprintf("cannot go from %v to %s", from, to))
}

func one(p EventData) ([]EventData, error) { return []EventData{p}, nil }

func (d *decider) decide(cmd Command) ([]EventData, error) {
	s := d.s
	switch c := cmd.(type) {
	case OpenCase:
		return one(c.CaseOpened)
	case ReceiveCall:
		if slices.Contains(s.CADRefs, c.CADRef) {
			return nil, fieldErr(ErrDuplicate, "cad_ref", "call already on this case")
		}
		return one(c.CallReceived)
	case CheckAddressHistory:
		return one(c.AddressHistoryChecked)
	case RecordIntervention:
		if c.ClearedAt.Before(c.ArrivedAt) {
			return nil, invalid("cleared_at", "before arrived_at")
		}
		return one(c.InterventionRecorded)
	case IdentifyParty:
		if err := d.fresh("party_id", s.Parties[c.PartyID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		for _, p := range s.Parties {
			if p.PersonID == c.PersonID {
				return nil, fieldErr(ErrDuplicate, "person_id", "person already a party to this case")
			}
		}
		return one(c.PartyIdentified)
	case TakeStatement:
		if err := d.fresh("statement_id", s.Known(c.StatementID)); err != nil {
			return nil, err
		}
		if _, err := d.party("party_id", c.PartyID); err != nil {
			return nil, err
		}
		return one(c.StatementTaken)
	case LogEvidence:
		if err := d.fresh("evidence_id", s.Exhibits[c.EvidenceID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		return one(c.EvidenceLogged)
	case TransferEvidence:
		x, ok := s.Exhibits[c.EvidenceID]
		switch {
		case !ok:
			return nil, notFound("evidence_id")
		case x.Custodian != c.From:
			return nil, fieldErr(ErrCustodyMismatch, "from", "not the current custodian")
		case c.From == c.To:
			return nil, fieldErr(ErrNoChange, "to", "same custodian")
		}
		return one(c.EvidenceTransferred)
	case MakeArrest:
		p, err := d.party("party_id", c.PartyID)
		if err != nil {
			return nil, err
		}
		if p.Role != PartySuspect {
			return nil, invalid("party_id", "not a suspect")
		}
		return one(c.ArrestMade)
	case SubmitFileToProsecutor:
		return one(c.FileSubmittedToProsecutor)
	case ClassifyIncident:
		return one(c.IncidentClassified)

	case CompleteRiskAssessment:
		return d.assess(c)
	case ChangeRiskLevel:
		if c.To == s.Risk {
			return nil, fieldErr(ErrNoChange, "to", "already the current band")
		}
		return one(RiskLevelChanged{From: s.Risk, To: c.To, Trigger: c.Trigger, Reason: c.Reason})
	case EscalateHighRisk:
		if s.Risk != RiskHigh {
			return nil, ErrNotHighRisk
		}
		return one(c.HighRiskEscalated)
	case ActivateRapidResponse:
		if s.Risk != RiskHigh {
			return nil, ErrNotHighRisk
		}
		if s.Rapid.Active {
			return nil, transition("cell_id", "active", "activated")
		}
		if err := d.fresh("cell_id", c.CellID == s.Rapid.CellID); err != nil {
			return nil, err
		}
		return one(c.RapidResponseActivated)
	case AssignRapidResponseAction:
		if err := d.activeCell(c.CellID); err != nil {
			return nil, err
		}
		if err := d.fresh("action_id", slices.Contains(s.Rapid.Actions, c.ActionID)); err != nil {
			return nil, err
		}
		return one(c.RapidResponseActionAssigned)
	case CloseRapidResponse:
		if err := d.activeCell(c.CellID); err != nil {
			return nil, err
		}
		return one(c.RapidResponseClosed)
	case ShareInformationWithoutConsent:
		if err := checkAuthoriser("authorised_by.role", c.AuthorisedBy); err != nil {
			return nil, err
		}
		return one(c.InformationSharedWithoutConsent)

	case CreateSafetyPlan:
		if err := d.fresh("plan_id", s.SafetyPlans[c.PlanID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		if _, err := d.party("party_id", c.PartyID); err != nil {
			return nil, err
		}
		return one(c.SafetyPlanCreated)
	case ReviewSafetyPlan:
		if s.SafetyPlans[c.PlanID].ID == uuid.Nil {
			return nil, notFound("plan_id")
		}
		if c.PartyID != uuid.Nil {
			return nil, invalid("party_id", "filled in from the plan")
		}
		ev := c.SafetyPlanReviewed
		ev.PartyID = s.SafetyPlans[c.PlanID].PartyID
		return one(ev)
	case ImposeConditions:
		return d.impose(c)
	case VaryConditions:
		cond, err := d.activeCondition(c.ConditionID, "varied")
		if err != nil {
			return nil, err
		}
		if c.NoContact == nil && c.DistanceMetres == nil && c.EndsAt.IsZero() {
			return nil, fieldErr(ErrNoChange, "condition_id", "no field varied")
		}
		if c.DistanceMetres != nil && (*c.DistanceMetres < 0 || *c.DistanceMetres > 100000) {
			return nil, invalid("distance_metres", "outside 0 to 100000")
		}
		if !c.EndsAt.IsZero() && !c.EndsAt.After(cond.StartsAt) {
			return nil, invalid("ends_at", "not after starts_at")
		}
		return one(c.ConditionsVaried)
	case EndConditions:
		if _, err := d.activeCondition(c.ConditionID, "ended"); err != nil {
			return nil, err
		}
		return one(c.ConditionsEnded)
	case ReportBreach:
		if err := d.fresh("breach_id", s.Breaches[c.BreachID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		if _, err := d.activeCondition(c.ConditionID, "breached"); err != nil {
			return nil, err
		}
		return one(c.BreachReported)
	case ActionBreach:
		b, ok := s.Breaches[c.BreachID]
		switch {
		case !ok:
			return nil, notFound("breach_id")
		case b.Action != "":
			return nil, transition("breach_id", "actioned", "actioned")
		}
		return one(c.BreachActioned)
	case NotifyVictim:
		p, err := d.party("party_id", c.PartyID)
		if err != nil {
			return nil, err
		}
		if p.Role != PartyVictim {
			return nil, invalid("party_id", "not a victim")
		}
		return one(c.VictimNotified)

	case OfferReferral:
		if err := d.fresh("referral_id", s.Referrals[c.ReferralID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		if err := d.referralParty(c.PartyID, c.Destination); err != nil {
			return nil, err
		}
		return one(c.ReferralOffered)
	case RecordReferralDeclined:
		if err := d.referralStep(c.ReferralID, "declined", ReferralOfferedStatus); err != nil {
			return nil, err
		}
		return one(c.ReferralDeclinedByClient)
	case SendReferral:
		return d.sendReferral(c)
	case AcceptReferral:
		if err := d.referralStep(c.ReferralID, "accepted", ReferralSentStatus); err != nil {
			return nil, err
		}
		return one(c.ReferralAccepted)
	case RejectReferral:
		if err := d.referralStep(c.ReferralID, "rejected", ReferralSentStatus); err != nil {
			return nil, err
		}
		return one(c.ReferralRejected)
	case RevokeReferral:
		if err := d.referralStep(c.ReferralID, "revoked", ReferralSentStatus, ReferralAcceptedStatus, ReferralStartedStatus); err != nil {
			return nil, err
		}
		return one(c.ReferralRevoked)
	case StartService:
		if err := d.referralStep(c.ReferralID, "started", ReferralAcceptedStatus); err != nil {
			return nil, err
		}
		return one(c.ServiceStarted)
	case CompleteService:
		if err := d.referralStep(c.ReferralID, "completed", ReferralStartedStatus); err != nil {
			return nil, err
		}
		return one(c.ServiceCompleted)

	case ScheduleFollowUp:
		if err := d.fresh("follow_up_id", s.FollowUps[c.FollowUpID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		if _, err := d.party("party_id", c.PartyID); err != nil {
			return nil, err
		}
		return one(c.FollowUpScheduled)
	case AttemptFollowUp:
		if err := d.openFollowUp(c.FollowUpID, "attempted"); err != nil {
			return nil, err
		}
		return one(c.FollowUpAttempted)
	case CompleteFollowUp:
		if err := d.openFollowUp(c.FollowUpID, "completed"); err != nil {
			return nil, err
		}
		return one(c.FollowUpCompleted)
	case CancelFollowUp:
		if err := d.openFollowUp(c.FollowUpID, "cancelled"); err != nil {
			return nil, err
		}
		return one(c.FollowUpCancelled)

	case LinkCases:
		for i, id := range c.LinkedCaseIDs {
			field := "linked_case_ids[" + strconv.Itoa(i) + "]"
			switch {
			case id == s.ID:
				return nil, invalid(field, "the case itself")
			case slices.Contains(s.LinkedCases, id) || slices.Contains(c.LinkedCaseIDs[:i], id):
				return nil, fieldErr(ErrDuplicate, field, "already linked")
			}
		}
		return one(c.CasesLinked)
	case AssignCase:
		if c.Assignee == s.Assignee && c.Agency == s.Agency {
			return nil, fieldErr(ErrNoChange, "assignee", "already assigned")
		}
		return one(c.CaseAssigned)
	case RequestTransfer:
		switch {
		case s.Transfer != nil:
			return nil, transition("transfer_id", "requested", "requested")
		case s.Known(c.TransferID):
			return nil, d.fresh("transfer_id", true)
		case c.ToAgency == s.Agency && c.ToUser == s.Assignee:
			return nil, fieldErr(ErrNoChange, "to_agency", "already with this agency and worker")
		}
		return one(c.TransferRequested)
	case AcceptTransfer:
		if err := d.pendingTransfer(c.TransferID); err != nil {
			return nil, err
		}
		return one(c.TransferAccepted)
	case RejectTransfer:
		if err := d.pendingTransfer(c.TransferID); err != nil {
			return nil, err
		}
		return one(c.TransferRejected)
	case FlagCase:
		if err := d.fresh("flag_id", s.Flags[c.FlagID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		return one(c.CaseFlagged)
	case ResolveFlag:
		f, ok := s.Flags[c.FlagID]
		switch {
		case !ok:
			return nil, notFound("flag_id")
		case !f.Open:
			return nil, transition("flag_id", "resolved", "resolved")
		}
		return one(c.FlagResolved)
	case RequestClosure:
		if s.Closure.Status == ClosurePending || s.Closure.Status == ClosureApprovedS {
			return nil, transition("reason", s.Closure.Status, "requested")
		}
		return one(c.ClosureRequested)
	case ApproveClosure:
		if err := d.supervisorDecision("approved"); err != nil {
			return nil, err
		}
		return one(c.ClosureApproved)
	case RejectClosure:
		if err := d.supervisorDecision("rejected"); err != nil {
			return nil, err
		}
		return one(c.ClosureRejected)
	case CloseCase:
		if s.Risk == RiskHigh && s.Closure.Status != ClosureApprovedS {
			return nil, ErrApprovalRequired
		}
		if (s.ActiveConditions() > 0 || s.OpenFollowUps() > 0) && strings.TrimSpace(c.Justification) == "" {
			return nil, fieldErr(ErrOpenItems, "justification", "required while conditions are active or follow-ups are open")
		}
		return one(c.CaseClosed)
	case ReopenCase:
		if s.Status != StatusClosed {
			return nil, ErrCaseNotClosed
		}
		return one(c.CaseReopened)

	case RecordConsent:
		if err := d.fresh("consent_id", s.Consents[c.ConsentID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		if _, err := d.party("party_id", c.PartyID); err != nil {
			return nil, err
		}
		if c.Scope == ConsentSharing && c.Destination == "" && c.Agency == "" {
			return nil, invalid("destination", "a sharing consent names a destination or an agency")
		}
		if !c.ExpiresAt.IsZero() && !c.ExpiresAt.After(c.OccurredAt) {
			return nil, invalid("expires_at", "not after occurred_at")
		}
		return one(c.ConsentRecorded)
	case WithdrawConsent:
		k, ok := s.Consents[c.ConsentID]
		switch {
		case !ok:
			return nil, notFound("consent_id")
		case !k.Active:
			return nil, transition("consent_id", "withdrawn", "withdrawn")
		}
		return one(c.ConsentWithdrawn)
	case PlaceLegalHold:
		if err := d.fresh("hold_id", s.Holds[c.HoldID].ID != uuid.Nil); err != nil {
			return nil, err
		}
		return one(c.LegalHoldPlaced)
	case ErasePersonalData:
		if r := d.h.Actor.Role; r != RoleSupervisor && r != RoleAdmin && r != RoleSystem {
			return nil, fieldErr(ErrRoleNotAllowed, "actor.role", "a supervisor, an administrator or the retention schedule erases personal data")
		}
		if c.PartyIDs != nil {
			return nil, invalid("party_ids", "filled in from the case: send person_id")
		}
		switch {
		case s.Erased != nil:
			return nil, transition("case_id", "erased", "erased")
		case c.Scope == ErasureScopeCase:
			if c.PersonID != "" {
				return nil, invalid("person_id", `only with scope "person"`)
			}
		case c.Scope == ErasureScopePerson:
			if strings.TrimSpace(c.PersonID) == "" {
				return nil, invalid("person_id", `required with scope "person"`)
			}
		default:
			return nil, invalid("scope", `"case" (every personal value of the case) or "person" (the values about one person)`)
		}
		for _, h := range s.Holds {
			if h.Active {
				return nil, fieldErr(ErrLegalHold, "case_id", "the case is under an active legal hold ("+string(h.Scope)+"): release it first")
			}
		}
		ev := c.PersonalDataErased
		found, erased := false, true
		for _, p := range s.Parties {
			if c.Scope == ErasureScopeCase || p.PersonID == c.PersonID {
				found = true
				if p.Erased == nil {
					erased = false
				}
				ev.PartyIDs = append(ev.PartyIDs, p.ID)
			}
		}
		if c.Scope == ErasureScopePerson {
			switch {
			case !found:
				return nil, fieldErr(ErrNotFound, "person_id", "not a party of this case")
			case erased:
				return nil, transition("person_id", "erased", "erased")
			}
		}
		slices.SortFunc(ev.PartyIDs, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		return one(ev)
	case ReleaseLegalHold:
		k, ok := s.Holds[c.HoldID]
		switch {
		case !ok:
			return nil, notFound("hold_id")
		case !k.Active:
			return nil, transition("hold_id", "released", "released")
		}
		return one(c.LegalHoldReleased)
	case ProduceDisclosure:
		return d.disclose(c)
	case ReceiveProductionOrder:
		if err := d.fresh("order_id", s.Orders[c.OrderID].OrderID != uuid.Nil); err != nil {
			return nil, err
		}
		return one(c.ProductionOrderReceived)

	case AddNote:
		if err := d.fresh("note_id", s.Known(c.NoteID)); err != nil {
			return nil, err
		}
		if d.h.Compartment == "" {
			switch {
			case d.h.Actor.Role.IsPolice():
				d.compartment = CompartmentPolice
			case d.h.Actor.Role == RoleSocialWorker:
				d.compartment = CompartmentSocialWork
			}
		}
		return one(c.NoteAdded)
	case CorrectEntry:
		t, err := d.target(c.TargetEventID)
		if err != nil {
			return nil, err
		}
		if t.InError {
			return nil, transition("target_event_id", "marked in error", "corrected")
		}
		if c.NewCompartment != "" && !c.NewCompartment.NarrowerOrEqual(t.Compartment) {
			return nil, fieldErr(ErrCompartmentWidened, "new_compartment", "wider than the entry's "+string(t.Compartment))
		}
		// A correction that narrows the entry carries its new values: it is
		// recorded in the narrower compartment too.
		if c.NewCompartment != "" && c.NewCompartment.NarrowerOrEqual(d.compartment) {
			d.compartment = c.NewCompartment
		}
		if c.PartyID != uuid.Nil {
			return nil, invalid("party_id", "filled in from the corrected entry")
		}
		ev := c.EntryCorrected
		ev.PartyID = s.PartyOfEntry(c.TargetEventID)
		return one(ev)
	case RedactEntry:
		t, err := d.target(c.TargetEventID)
		if err != nil {
			return nil, err
		}
		for _, h := range s.Holds {
			if h.Active && holdCovers(h.Scope, t.Type) {
				return nil, fieldErr(ErrLegalHold, "target_event_id", "the entry is under an active legal hold ("+string(h.Scope)+")")
			}
		}
		return one(c.EntryRedacted)
	case MarkEntryInError:
		t, err := d.target(c.TargetEventID)
		if err != nil {
			return nil, err
		}
		if t.InError {
			return nil, transition("target_event_id", "marked in error", "marked in error")
		}
		return one(c.EntryMarkedInError)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func (d *decider) assess(c CompleteRiskAssessment) ([]EventData, error) {
	if err := d.fresh("assessment_id", d.s.Known(c.AssessmentID)); err != nil {
		return nil, err
	}
	if _, err := d.party("party_id", c.PartyID); err != nil {
		return nil, err
	}
	if max := c.Instrument.MaxScore(); c.Score > max {
		return nil, invalid("score", "above "+strconv.Itoa(max)+", the maximum of "+string(c.Instrument))
	}
	out := []EventData{c.RiskAssessmentCompleted}
	if band := c.EffectiveBand(); band != d.s.Risk {
		out = append(out, RiskLevelChanged{From: d.s.Risk, To: band, Trigger: "assessment"})
	}
	return out, nil
}

func (d *decider) impose(c ImposeConditions) ([]EventData, error) {
	if err := d.fresh("condition_id", d.s.Conditions[c.ConditionID].ID != uuid.Nil); err != nil {
		return nil, err
	}
	bound, err := d.party("bound_party_id", c.BoundPartyID)
	if err != nil {
		return nil, err
	}
	if bound.Role != PartySuspect {
		return nil, invalid("bound_party_id", "not a suspect")
	}
	for i, id := range c.ProtectedPartyIDs {
		if _, err := d.party("protected_party_ids["+strconv.Itoa(i)+"]", id); err != nil {
			return nil, err
		}
		if id == c.BoundPartyID {
			return nil, invalid("protected_party_ids["+strconv.Itoa(i)+"]", "the bound party")
		}
	}
	if !c.EndsAt.IsZero() && !c.EndsAt.After(c.StartsAt) {
		return nil, invalid("ends_at", "not after starts_at")
	}
	return one(c.ConditionsImposed)
}

func (d *decider) activeCondition(id uuid.UUID, to string) (Condition, error) {
	c, ok := d.s.Conditions[id]
	switch {
	case !ok:
		return c, notFound("condition_id")
	case !c.Active:
		return c, transition("condition_id", "ended", to)
	}
	return c, nil
}

func (d *decider) activeCell(id uuid.UUID) error {
	switch {
	case id != d.s.Rapid.CellID:
		return notFound("cell_id")
	case !d.s.Rapid.Active:
		return transition("cell_id", "closed", "acted on")
	}
	return nil
}

// checkAuthoriser enforces that sharing without consent is authorised by a
// supervisor (or an administrator acting for one).
func checkAuthoriser(field string, a Actor) error {
	if a.Role != RoleSupervisor && a.Role != RoleAdmin {
		return invalid(field, "sharing without consent is authorised by a supervisor")
	}
	return nil
}

// referralParty checks the party exists and suits the destination: aggressor
// programmes take suspects, shelters and victim services do not.
func (d *decider) referralParty(id uuid.UUID, dest Destination) error {
	p, err := d.party("party_id", id)
	if err != nil {
		return err
	}
	switch {
	case dest == "aggressor_programme" && p.Role != PartySuspect:
		return invalid("party_id", "aggressor programmes take the suspect")
	case (dest == "shelter" || dest == "cavac") && p.Role == PartySuspect:
		return invalid("party_id", "victim services do not take the suspect")
	}
	return nil
}

func (d *decider) referralStep(id uuid.UUID, to string, from ...ReferralStatus) error {
	r, ok := d.s.Referrals[id]
	if !ok {
		return notFound("referral_id")
	}
	if d.h.Actor.Role == RolePartner && d.h.Actor.Agency != r.Agency {
		return fieldErr(ErrNotAddressee, "referral_id", "addressed to another agency")
	}
	if !slices.Contains(from, r.Status) {
		return transition("referral_id", r.Status, to)
	}
	return nil
}

func (d *decider) sendReferral(c SendReferral) ([]EventData, error) {
	s := d.s
	if r, ok := s.Referrals[c.ReferralID]; ok {
		switch {
		case r.Status != ReferralOfferedStatus:
			return nil, transition("referral_id", r.Status, "sent")
		case r.Destination != c.Destination:
			return nil, invalid("destination", "not the destination offered")
		case r.PartyID != c.PartyID:
			return nil, invalid("party_id", "not the party offered")
		}
	}
	if err := d.referralParty(c.PartyID, c.Destination); err != nil {
		return nil, err
	}
	consent := func(k Consent) bool {
		return k.Active && k.PartyID == c.PartyID && k.Scope == ConsentSharing &&
			(k.Destination == c.Destination || k.Agency == c.Agency) &&
			(k.ExpiresAt.IsZero() || k.ExpiresAt.After(d.at))
	}
	if c.ConsentID != uuid.Nil {
		if !consent(s.Consents[c.ConsentID]) {
			return nil, fieldErr(ErrNoConsent, "consent_id", "not an active sharing consent of this party for this destination")
		}
		if c.WithoutConsent != nil {
			return nil, invalid("without_consent", "given with a consent_id")
		}
		return one(c.ReferralSent)
	}
	if c.WithoutConsent == nil {
		return nil, fieldErr(ErrNoConsent, "consent_id", "required unless without_consent is given")
	}
	if err := checkAuthoriser("without_consent.authorised_by.role", c.WithoutConsent.AuthorisedBy); err != nil {
		return nil, err
	}
	if !slices.Contains(c.WithoutConsent.Recipients, c.Agency) {
		return nil, invalid("without_consent.recipients", "does not include the referral's agency")
	}
	return []EventData{*c.WithoutConsent, c.ReferralSent}, nil
}

func (d *decider) openFollowUp(id uuid.UUID, to string) error {
	f, ok := d.s.FollowUps[id]
	switch {
	case !ok:
		return notFound("follow_up_id")
	case f.Status != FollowUpOpen:
		return transition("follow_up_id", f.Status, to)
	}
	return nil
}

func (d *decider) pendingTransfer(id uuid.UUID) error {
	switch {
	case !d.s.Known(id):
		return notFound("transfer_id")
	case d.s.Transfer == nil || d.s.Transfer.ID != id:
		return transition("transfer_id", "answered", "answered")
	}
	return nil
}

func (d *decider) supervisorDecision(to string) error {
	if d.h.Actor.Role != RoleSupervisor {
		return fieldErr(ErrRoleNotAllowed, "actor.role", "closure is approved or rejected by a supervisor")
	}
	if d.s.Closure.Status != ClosurePending {
		return transition("closure", d.s.Closure.Status, to)
	}
	return nil
}

// target finds the entry a correction, redaction or marking in error points
// at, and records the new event in the target's compartment, or in a
// narrower one the command asks for.
func (d *decider) target(id uuid.UUID) (Entry, error) {
	t, ok := d.s.Entries[id]
	if !ok || !d.h.Actor.Role.Sees(t.Compartment) {
		// An entry the actor may not see is answered as a missing one: a
		// refusal must not tell that it exists.
		return Entry{}, fieldErr(ErrUnknownEntry, "target_event_id", "no such event in this case")
	}
	d.compartment = t.Compartment
	if d.h.Compartment != "" {
		if !d.h.Compartment.NarrowerOrEqual(t.Compartment) {
			return t, fieldErr(ErrCompartmentWidened, "compartment", "wider than the target's "+string(t.Compartment))
		}
		d.compartment = d.h.Compartment
	}
	return t, nil
}

func (d *decider) disclose(c ProduceDisclosure) ([]EventData, error) {
	s := d.s
	if err := d.fresh("disclosure_id", s.Known(c.DisclosureID)); err != nil {
		return nil, err
	}
	if c.OrderID != uuid.Nil && s.Orders[c.OrderID].OrderID == uuid.Nil {
		return nil, notFound("order_id")
	}
	for i, it := range c.Items {
		field := "items[" + strconv.Itoa(i) + "].event_id"
		e, ok := s.Entries[it.EventID]
		if !ok {
			return nil, fieldErr(ErrUnknownEntry, field, "no such event in this case")
		}
		if e.Compartment == CompartmentSealed && c.OrderID == uuid.Nil {
			return nil, &FieldError{Field: field, Reason: "sealed entry", Err: ErrOrderRequired}
		}
	}
	return one(c.DisclosureProduced)
}

// holdCovers reports whether a legal hold of the given scope protects an
// entry of type typ from redaction.
func holdCovers(scope HoldScope, typ string) bool {
	switch scope {
	case "entire_case":
		return true
	case "notes":
		return typ == "case.note_added"
	case "evidence":
		return typ == "case.evidence_logged" || typ == "case.evidence_transferred" || typ == "case.statement_taken"
	}
	return false
}

// aboutErasedParty refuses personal values about a party whose personal
// data was erased: its key is destroyed, and nothing is written about it
// again (ids, codes and dates still are).
func aboutErasedParty(s State, data []EventData) error {
	for _, p := range data {
		party := SubjectParty(p)
		if party == uuid.Nil || s.Parties[party].Erased == nil {
			continue
		}
		holds := false
		if _, err := MapPersonal(p, func(_, v string) (string, error) {
			holds = holds || v != ""
			return v, nil
		}); err != nil {
			return err
		}
		if holds {
			return fieldErr(ErrInvalidTransition, "party_id", "the party's personal data was erased: nothing personal is recorded about it again")
		}
	}
	return nil
}

// entityIsParty refuses an entity (a statement, a plan, a referral…) whose
// id is one of the case's parties': what concerns a party is found by its
// id, and an entity under a party's id would pass for that party (in a
// subject access report, say).
func entityIsParty(s State, data []EventData) error {
	for _, p := range data {
		v := reflect.ValueOf(p)
		if v.Kind() != reflect.Struct || v.NumField() == 0 {
			continue
		}
		rules := planFor(v.Type())
		if len(rules) == 0 || rules[0].name == "party_id" {
			continue
		}
		if id, ok := v.Field(rules[0].index).Interface().(uuid.UUID); ok && id != uuid.Nil {
			if _, party := s.Parties[id]; party {
				return fieldErr(ErrDuplicate, rules[0].name, "already used on this case (a party's id)")
			}
		}
	}
	return nil
}
