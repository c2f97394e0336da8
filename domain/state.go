package domain

import (
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// CaseStatus is where a case is in its life.
type CaseStatus string

const (
	StatusNone   CaseStatus = "" // never opened
	StatusOpen   CaseStatus = "open"
	StatusClosed CaseStatus = "closed"
)

// ReferralStatus is a referral's state:
//
//	offered → declined | sent
//	sent → accepted | rejected | revoked
//	accepted → started | revoked
//	started → completed
type ReferralStatus string

const (
	ReferralOfferedStatus   ReferralStatus = "offered"
	ReferralDeclinedStatus  ReferralStatus = "declined"
	ReferralSentStatus      ReferralStatus = "sent"
	ReferralAcceptedStatus  ReferralStatus = "accepted"
	ReferralRejectedStatus  ReferralStatus = "rejected"
	ReferralRevokedStatus   ReferralStatus = "revoked"
	ReferralStartedStatus   ReferralStatus = "started"
	ReferralCompletedStatus ReferralStatus = "completed"
)

// FollowUpStatus is a follow-up's state: open → completed | cancelled.
type FollowUpStatus string

const (
	FollowUpOpen    FollowUpStatus = "open"
	FollowUpDone    FollowUpStatus = "completed"
	FollowUpDropped FollowUpStatus = "cancelled"
)

// ClosureStatus is the state of a closure request:
// requested → approved | rejected; a rejected or used request can be asked again.
type ClosureStatus string

const (
	ClosureNone      ClosureStatus = ""
	ClosurePending   ClosureStatus = "requested"
	ClosureApprovedS ClosureStatus = "approved"
	ClosureRejectedS ClosureStatus = "rejected"
)

// Party is a person on the case.
type Party struct {
	ID           uuid.UUID
	EventID      uuid.UUID // the entry that identified it: its compartment is the party's
	PersonID     string
	Role         PartyRole
	Relationship Relationship
	Cohabiting   bool
	Language     string
	// Erased is set once the personal data about the party was erased
	// (the person's erasure, or the case's).
	Erased *Erasure
}

// RiskChange is one move of the case's risk band.
type RiskChange struct {
	EventID uuid.UUID
	At      time.Time
	From    RiskBand
	To      RiskBand
	Trigger RiskTrigger
}

// Assessment is a completed risk assessment, summarised.
type Assessment struct {
	ID         uuid.UUID
	Instrument Instrument
	Score      int
	Band       RiskBand // effective band, after any override
	Overridden bool
	At         time.Time
}

// Referral is a referral and where it stands.
type Referral struct {
	ID          uuid.UUID
	EventID     uuid.UUID // the entry that offered it
	Destination Destination
	Agency      string
	PartyID     uuid.UUID
	Status      ReferralStatus
	WithConsent bool
	OfferedAt   time.Time
	SentAt      time.Time
	AnsweredAt  time.Time
}

// FollowUp is a planned contact and where it stands.
type FollowUp struct {
	ID          uuid.UUID
	EventID     uuid.UUID // the entry that scheduled it
	PartyID     uuid.UUID
	Kind        FollowUpKind
	DueBy       time.Time
	Assignee    string
	Status      FollowUpStatus
	Attempts    int
	ScheduledAt time.Time
	DoneAt      time.Time
}

// Condition is a set of protection conditions.
type Condition struct {
	ID           uuid.UUID
	EventID      uuid.UUID // the entry that imposed it: its compartment is the condition's
	Kind         ConditionKind
	BoundPartyID uuid.UUID
	Protected    []uuid.UUID
	NoContact    bool
	Distance     int
	StartsAt     time.Time
	EndsAt       time.Time
	Active       bool
	Breaches     int
}

// Breach is a reported breach of conditions.
type Breach struct {
	ID          uuid.UUID
	ConditionID uuid.UUID
	ReportedAt  time.Time
	Action      BreachAction // empty until actioned
}

// Consent is a party's consent.
type Consent struct {
	ID          uuid.UUID
	EventID     uuid.UUID // the entry that recorded it
	PartyID     uuid.UUID
	Scope       ConsentScope
	Destination Destination
	Agency      string
	ExpiresAt   time.Time
	Active      bool
}

// Flag is a warning flag.
type Flag struct {
	ID      uuid.UUID
	EventID uuid.UUID // the entry that raised it
	Kind    FlagKind
	Open    bool
}

// Hold is a legal hold.
type Hold struct {
	ID      uuid.UUID
	EventID uuid.UUID // the entry that placed it
	Matter  string
	Scope   HoldScope
	Active  bool
}

// SafetyPlan is a safety plan and its review dates.
type SafetyPlan struct {
	ID           uuid.UUID
	EventID      uuid.UUID // the entry that created it
	PartyID      uuid.UUID
	CreatedAt    time.Time
	ReviewedAt   time.Time
	NextReviewBy time.Time
}

// Exhibit is a piece of evidence and its current custodian.
type Exhibit struct {
	ID        uuid.UUID
	SHA256    string
	Custodian string
	Transfers int
}

// Transfer is a pending request to move the case.
type Transfer struct {
	ID       uuid.UUID
	ToAgency string
	ToUser   string
}

// Grant opens the case to an agency for the entries at versions From up
// to Until (excluded; -1 while open): the owning agency from the first
// entry, a transfer's receiving agency from the first entry (the file is
// theirs now), and an agency the case is shared with, by consent or without
// it under the law, from the entry that shared it on. DOMAIN.md "Agencies
// and sharing"; the access package decides with it.
type Grant struct {
	Agency string
	From   int64
	Until  int64
	Basis  GrantBasis
	Source uuid.UUID // the consent, transfer or entry that granted it
	Entry  uuid.UUID // the entry that granted it: marked in error, it grants no more
}

// GrantBasis is why an agency reads a case.
type GrantBasis string

const (
	GrantOwner          GrantBasis = "owner"
	GrantTransfer       GrantBasis = "transfer"
	GrantConsent        GrantBasis = "consent"
	GrantWithoutConsent GrantBasis = "without_consent"
)

// Covers reports whether the grant opens the entry at version v.
func (g Grant) Covers(v int64) bool { return v >= g.From && (g.Until < 0 || v < g.Until) }

// OrderEntry is where a production order was recorded on the case: the
// entry (which may be marked in error) and who recorded it.
type OrderEntry struct {
	EventID    uuid.UUID
	RecordedBy string // user id
}

// Closure is the latest closure request.
type Closure struct {
	Status ClosureStatus
	Reason ClosureReason
}

// RapidResponse is the case's multi-agency cell.
type RapidResponse struct {
	CellID   uuid.UUID
	Active   bool
	Partners []string
	Actions  []uuid.UUID
}

// Entry is what the case knows of each of its events, so that corrections,
// redactions and disclosures can target them.
type Entry struct {
	Type        string
	Version     int64 // position in the case stream, from 0
	Compartment Compartment
	InError     bool
	Redacted    bool
	Corrections int
	// Target is the entry a correction, redaction or marking in error
	// annotates (Nil for any other entry).
	Target uuid.UUID
	// Digest is the recording command's digest, on its first entry.
	Digest string
}

// ContactDue is an obligation to contact the victim quickly after a high
// risk band or a breach. MetBy is the follow-up scheduled in time for it;
// a projection reports those that stay unmet past DueBy.
type ContactDue struct {
	EventID uuid.UUID
	Reason  string // "high_risk" or "breach"
	Since   time.Time
	DueBy   time.Time // under the default rule, FirstContactDelay working days
	MetBy   uuid.UUID // under the default rule
	// Earliest is the earliest due date of the victim follow-ups scheduled
	// after the obligation arose and not due before it, and EarliestID that
	// follow-up: whether it answers the obligation under another rule than
	// the default one is a comparison with that rule's deadline.
	Earliest   time.Time
	EarliestID uuid.UUID
}

// State is the current state of one case, folded from its events by Evolve.
// Its maps are shared between a State and the State Evolve returns from it:
// use Clone to keep a snapshot.
type State struct {
	ID       uuid.UUID
	Version  int64 // number of events folded; the next event's stream version
	Status   CaseStatus
	Module   Module
	Agency   string
	Assignee string
	OpenedAt time.Time
	ClosedAt time.Time
	Reopened int

	CADRefs     []string
	Risk        RiskBand
	RiskHistory []RiskChange
	Assessments []Assessment
	Escalated   bool
	Rapid       RapidResponse
	Closure     Closure
	Transfer    *Transfer
	LinkedCases []uuid.UUID
	Arrests     int
	// Submitted counts files submitted to the prosecutor for charge
	// approval: a case with one keeps its personal data for the court's
	// retention periods.
	Submitted    int
	ContactsDue  []ContactDue
	ClosedReason ClosureReason

	Parties      map[uuid.UUID]Party
	Referrals    map[uuid.UUID]Referral
	FollowUps    map[uuid.UUID]FollowUp
	Conditions   map[uuid.UUID]Condition
	Breaches     map[uuid.UUID]Breach
	Consents     map[uuid.UUID]Consent
	Flags        map[uuid.UUID]Flag
	Holds        map[uuid.UUID]Hold
	SafetyPlans  map[uuid.UUID]SafetyPlan
	Exhibits     map[uuid.UUID]Exhibit
	Orders       map[uuid.UUID]ProductionOrderReceived
	OrderEntries map[uuid.UUID]OrderEntry
	Entries      map[uuid.UUID]Entry
	// Grants lists the agencies the case is open to, in the order granted.
	Grants []Grant
	// Erased is set once the case's personal data was erased.
	Erased *Erasure
	// ids holds every entity id created on the case (statements, notes,
	// assessments, disclosures…) that has no map of its own, so that a
	// second creation under the same id is refused.
	ids map[uuid.UUID]struct{}
}

// Erasure is when and how a case's personal data was erased.
type Erasure struct {
	EventID uuid.UUID
	Rule    string // the retention rule, or "" for an erasure on request
	At      time.Time
	By      string // the authoriser's user id
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := s
	c.CADRefs = slices.Clone(s.CADRefs)
	c.RiskHistory = slices.Clone(s.RiskHistory)
	c.Assessments = slices.Clone(s.Assessments)
	c.Rapid.Partners = slices.Clone(s.Rapid.Partners)
	c.Rapid.Actions = slices.Clone(s.Rapid.Actions)
	c.LinkedCases = slices.Clone(s.LinkedCases)
	c.ContactsDue = slices.Clone(s.ContactsDue)
	if s.Transfer != nil {
		t := *s.Transfer
		c.Transfer = &t
	}
	c.Parties = maps.Clone(s.Parties)
	c.Referrals = maps.Clone(s.Referrals)
	c.FollowUps = maps.Clone(s.FollowUps)
	c.Conditions = maps.Clone(s.Conditions)
	c.Breaches = maps.Clone(s.Breaches)
	c.Consents = maps.Clone(s.Consents)
	c.Flags = maps.Clone(s.Flags)
	c.Holds = maps.Clone(s.Holds)
	c.SafetyPlans = maps.Clone(s.SafetyPlans)
	c.Exhibits = maps.Clone(s.Exhibits)
	c.Orders = maps.Clone(s.Orders)
	c.OrderEntries = maps.Clone(s.OrderEntries)
	c.Grants = slices.Clone(s.Grants)
	c.Entries = maps.Clone(s.Entries)
	c.ids = maps.Clone(s.ids)
	return c
}

func (s *State) init() {
	if s.Entries != nil {
		return
	}
	s.Parties = map[uuid.UUID]Party{}
	s.Referrals = map[uuid.UUID]Referral{}
	s.FollowUps = map[uuid.UUID]FollowUp{}
	s.Conditions = map[uuid.UUID]Condition{}
	s.Breaches = map[uuid.UUID]Breach{}
	s.Consents = map[uuid.UUID]Consent{}
	s.Flags = map[uuid.UUID]Flag{}
	s.Holds = map[uuid.UUID]Hold{}
	s.SafetyPlans = map[uuid.UUID]SafetyPlan{}
	s.Exhibits = map[uuid.UUID]Exhibit{}
	s.Orders = map[uuid.UUID]ProductionOrderReceived{}
	s.OrderEntries = map[uuid.UUID]OrderEntry{}
	s.Entries = map[uuid.UUID]Entry{}
	s.ids = map[uuid.UUID]struct{}{}
}

// Known reports whether an entity id (of any kind) was created on the case.
func (s State) Known(id uuid.UUID) bool {
	_, ok := s.ids[id]
	return ok
}

// ActiveConditions counts conditions in force.
func (s State) ActiveConditions() int {
	n := 0
	for _, c := range s.Conditions {
		if c.Active {
			n++
		}
	}
	return n
}

// OpenFollowUps counts follow-ups still to be made.
func (s State) OpenFollowUps() int {
	n := 0
	for _, f := range s.FollowUps {
		if f.Status == FollowUpOpen {
			n++
		}
	}
	return n
}

// UnmetContacts lists the contact obligations no follow-up has answered.
func (s State) UnmetContacts() []ContactDue {
	var out []ContactDue
	for _, c := range s.ContactsDue {
		if c.MetBy == uuid.Nil {
			out = append(out, c)
		}
	}
	return out
}

// FirstContactDelay is the victim-contact delay anchored on in practice:
// two working days.
const FirstContactDelay = 2

// AddWorkingDays returns t moved n working days (Monday to Friday) ahead.
// Public holidays are not known here; projections may apply their own
// calendar.
func AddWorkingDays(t time.Time, n int) time.Time {
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return t
}

// Evolve applies one recorded event to the state and returns the new state.
// It never fails: an event is a fact that Decide already accepted. Events of
// types it does not know change only the version and entry index. Evolve may
// modify the maps of s (see State).
func Evolve(s State, e Event) State {
	s.init()
	at := e.Meta.OccurredAt
	s.Entries[e.ID] = Entry{Type: e.Type(), Version: s.Version, Compartment: e.Meta.Compartment, Target: Annotated(e.Data), Digest: e.Meta.CommandDigest}
	s.Version++

	switch d := e.Data.(type) {
	case CaseOpened:
		s.ID = e.CaseID
		s.Status = StatusOpen
		s.Module = d.Module
		s.Agency = d.Agency
		s.OpenedAt = at
		s.grant(d.Agency, 0, GrantOwner, e.ID, e.ID)
	case CallReceived:
		s.CADRefs = append(s.CADRefs, d.CADRef)
	case PartyIdentified:
		s.Parties[d.PartyID] = Party{ID: d.PartyID, EventID: e.ID, PersonID: d.PersonID, Role: d.Role, Relationship: d.Relationship, Cohabiting: d.Cohabiting, Language: d.Language}
	case StatementTaken:
		s.ids[d.StatementID] = struct{}{}
	case EvidenceLogged:
		s.Exhibits[d.EvidenceID] = Exhibit{ID: d.EvidenceID, SHA256: d.SHA256, Custodian: d.Custodian}
	case EvidenceTransferred:
		x := s.Exhibits[d.EvidenceID]
		x.Custodian = d.To
		x.Transfers++
		s.Exhibits[d.EvidenceID] = x
	case ArrestMade:
		s.Arrests++
	case FileSubmittedToProsecutor:
		s.Submitted++

	case RiskAssessmentCompleted:
		s.ids[d.AssessmentID] = struct{}{}
		s.Assessments = append(s.Assessments, Assessment{ID: d.AssessmentID, Instrument: d.Instrument, Score: d.Score, Band: d.EffectiveBand(), Overridden: d.Override != nil, At: at})
	case RiskLevelChanged:
		s.RiskHistory = append(s.RiskHistory, RiskChange{EventID: e.ID, At: at, From: d.From, To: d.To, Trigger: d.Trigger})
		s.Risk = d.To
		if d.To == RiskHigh && d.From != RiskHigh {
			s.ContactsDue = append(s.ContactsDue, ContactDue{EventID: e.ID, Reason: "high_risk", Since: at, DueBy: AddWorkingDays(at, FirstContactDelay)})
		}
	case HighRiskEscalated:
		s.Escalated = true
	case RapidResponseActivated:
		s.Rapid = RapidResponse{CellID: d.CellID, Active: true, Partners: d.Partners}
	case RapidResponseActionAssigned:
		s.Rapid.Actions = append(s.Rapid.Actions, d.ActionID)
	case RapidResponseClosed:
		s.Rapid.Active = false

	case SafetyPlanCreated:
		s.SafetyPlans[d.PlanID] = SafetyPlan{ID: d.PlanID, EventID: e.ID, PartyID: d.PartyID, CreatedAt: at, NextReviewBy: d.NextReviewBy}
	case SafetyPlanReviewed:
		p := s.SafetyPlans[d.PlanID]
		p.ReviewedAt = at
		if !d.NextReviewBy.IsZero() {
			p.NextReviewBy = d.NextReviewBy
		}
		s.SafetyPlans[d.PlanID] = p
	case ConditionsImposed:
		s.Conditions[d.ConditionID] = Condition{ID: d.ConditionID, EventID: e.ID, Kind: d.Kind, BoundPartyID: d.BoundPartyID, Protected: d.ProtectedPartyIDs, NoContact: d.NoContact, Distance: d.DistanceMetres, StartsAt: d.StartsAt, EndsAt: d.EndsAt, Active: true}
	case ConditionsVaried:
		c := s.Conditions[d.ConditionID]
		if d.NoContact != nil {
			c.NoContact = *d.NoContact
		}
		if d.DistanceMetres != nil {
			c.Distance = *d.DistanceMetres
		}
		if !d.EndsAt.IsZero() {
			c.EndsAt = d.EndsAt
		}
		s.Conditions[d.ConditionID] = c
	case ConditionsEnded:
		c := s.Conditions[d.ConditionID]
		c.Active = false
		s.Conditions[d.ConditionID] = c
	case BreachReported:
		s.Breaches[d.BreachID] = Breach{ID: d.BreachID, ConditionID: d.ConditionID, ReportedAt: at}
		c := s.Conditions[d.ConditionID]
		c.Breaches++
		s.Conditions[d.ConditionID] = c
		s.ContactsDue = append(s.ContactsDue, ContactDue{EventID: e.ID, Reason: "breach", Since: at, DueBy: AddWorkingDays(at, FirstContactDelay)})
	case BreachActioned:
		b := s.Breaches[d.BreachID]
		b.Action = d.Action
		s.Breaches[d.BreachID] = b

	case ReferralOffered:
		s.Referrals[d.ReferralID] = Referral{ID: d.ReferralID, EventID: e.ID, Destination: d.Destination, PartyID: d.PartyID, Status: ReferralOfferedStatus, OfferedAt: at}
	case ReferralDeclinedByClient:
		s.setReferral(d.ReferralID, ReferralDeclinedStatus, at)
	case ReferralSent:
		r := s.Referrals[d.ReferralID]
		if r.EventID == uuid.Nil {
			r.EventID = e.ID // sent without an offer first
		}
		r.ID, r.Destination, r.Agency, r.PartyID = d.ReferralID, d.Destination, d.Agency, d.PartyID
		r.Status, r.SentAt, r.WithConsent = ReferralSentStatus, at, d.ConsentID != uuid.Nil
		s.Referrals[d.ReferralID] = r
	case ReferralAccepted:
		s.setReferral(d.ReferralID, ReferralAcceptedStatus, at)
	case ReferralRejected:
		s.setReferral(d.ReferralID, ReferralRejectedStatus, at)
	case ReferralRevoked:
		s.setReferral(d.ReferralID, ReferralRevokedStatus, at)
	case ServiceStarted:
		s.setReferral(d.ReferralID, ReferralStartedStatus, at)
	case ServiceCompleted:
		s.setReferral(d.ReferralID, ReferralCompletedStatus, at)

	case FollowUpScheduled:
		s.FollowUps[d.FollowUpID] = FollowUp{ID: d.FollowUpID, EventID: e.ID, PartyID: d.PartyID, Kind: d.Kind, DueBy: d.DueBy, Assignee: d.Assignee, Status: FollowUpOpen, ScheduledAt: at}
		if s.Parties[d.PartyID].Role == PartyVictim {
			for i, c := range s.ContactsDue {
				// A contact planned before the obligation arose, or due
				// after its deadline, does not answer it.
				if d.DueBy.Before(c.Since) {
					continue
				}
				if c.MetBy == uuid.Nil && !d.DueBy.After(c.DueBy) {
					s.ContactsDue[i].MetBy = d.FollowUpID
				}
				if c.EarliestID == uuid.Nil || d.DueBy.Before(c.Earliest) {
					s.ContactsDue[i].Earliest, s.ContactsDue[i].EarliestID = d.DueBy, d.FollowUpID
				}
			}
		}
	case FollowUpAttempted:
		f := s.FollowUps[d.FollowUpID]
		f.Attempts++
		s.FollowUps[d.FollowUpID] = f
	case FollowUpCompleted:
		s.endFollowUp(d.FollowUpID, FollowUpDone, at)
	case FollowUpCancelled:
		s.endFollowUp(d.FollowUpID, FollowUpDropped, at)

	case CasesLinked:
		s.LinkedCases = append(s.LinkedCases, d.LinkedCaseIDs...)
	case CaseAssigned:
		s.Assignee, s.Agency = d.Assignee, d.Agency
	case TransferRequested:
		s.Transfer = &Transfer{ID: d.TransferID, ToAgency: d.ToAgency, ToUser: d.ToUser}
		s.ids[d.TransferID] = struct{}{}
	case TransferAccepted:
		if s.Transfer != nil {
			s.Agency, s.Assignee = s.Transfer.ToAgency, s.Transfer.ToUser
			s.grant(s.Transfer.ToAgency, 0, GrantTransfer, s.Transfer.ID, e.ID)
		}
		s.Transfer = nil
	case TransferRejected:
		s.Transfer = nil
	case CaseFlagged:
		s.Flags[d.FlagID] = Flag{ID: d.FlagID, EventID: e.ID, Kind: d.Kind, Open: true}
	case FlagResolved:
		f := s.Flags[d.FlagID]
		f.Open = false
		s.Flags[d.FlagID] = f
	case ClosureRequested:
		s.Closure = Closure{Status: ClosurePending, Reason: d.Reason}
	case ClosureApproved:
		s.Closure.Status = ClosureApprovedS
	case ClosureRejected:
		s.Closure.Status = ClosureRejectedS
	case CaseClosed:
		s.Status = StatusClosed
		s.ClosedAt = at
		s.ClosedReason = d.Reason
		s.Closure = Closure{}
	case CaseReopened:
		s.Status = StatusOpen
		s.ClosedAt = time.Time{}
		s.ClosedReason = ""
		s.Reopened++

	case ConsentRecorded:
		s.Consents[d.ConsentID] = Consent{ID: d.ConsentID, EventID: e.ID, PartyID: d.PartyID, Scope: d.Scope, Destination: d.Destination, Agency: d.Agency, ExpiresAt: d.ExpiresAt, Active: true}
		if d.Scope == ConsentSharing && d.Agency != "" {
			s.grant(d.Agency, s.Version-1, GrantConsent, d.ConsentID, e.ID)
		}
	case ConsentWithdrawn:
		c := s.Consents[d.ConsentID]
		c.Active = false
		s.Consents[d.ConsentID] = c
		// What was shared stays shared; nothing recorded from now on is.
		s.Grants = slices.Clone(s.Grants)
		for i, g := range s.Grants {
			if g.Source == d.ConsentID && g.Until < 0 {
				s.Grants[i].Until = s.Version - 1
			}
		}
	case InformationSharedWithoutConsent:
		for _, agency := range d.Recipients {
			s.grant(agency, s.Version-1, GrantWithoutConsent, e.ID, e.ID)
		}
	case LegalHoldPlaced:
		s.Holds[d.HoldID] = Hold{ID: d.HoldID, EventID: e.ID, Matter: d.Matter, Scope: d.Scope, Active: true}
	case LegalHoldReleased:
		h := s.Holds[d.HoldID]
		h.Active = false
		s.Holds[d.HoldID] = h
	case PersonalDataErased:
		er := &Erasure{EventID: e.ID, Rule: d.Rule, At: e.Meta.RecordedAt, By: e.Meta.Actor.UserID}
		if d.Scope != ErasureScopePerson {
			s.Erased = er
		}
		for _, id := range d.PartyIDs {
			if p, ok := s.Parties[id]; ok && p.Erased == nil {
				p.Erased = er
				s.Parties[id] = p
			}
		}
	case DisclosureProduced:
		s.ids[d.DisclosureID] = struct{}{}
	case ProductionOrderReceived:
		s.Orders[d.OrderID] = d
		s.OrderEntries[d.OrderID] = OrderEntry{EventID: e.ID, RecordedBy: e.Meta.Actor.UserID}

	case NoteAdded:
		s.ids[d.NoteID] = struct{}{}
	case EntryCorrected:
		t := s.Entries[d.TargetEventID]
		t.Corrections++
		if d.NewCompartment != "" {
			t.Compartment = d.NewCompartment
		}
		s.Entries[d.TargetEventID] = t
	case EntryRedacted:
		t := s.Entries[d.TargetEventID]
		t.Redacted = true
		s.Entries[d.TargetEventID] = t
	case EntryMarkedInError:
		t := s.Entries[d.TargetEventID]
		t.InError = true
		s.Entries[d.TargetEventID] = t
		// A sharing entered in error opens nothing recorded from now on.
		s.Grants = slices.Clone(s.Grants)
		for i, g := range s.Grants {
			if g.Entry == d.TargetEventID && g.Until < 0 && g.Basis != GrantOwner {
				s.Grants[i].Until = s.Version - 1
			}
		}
	}
	return s
}

// grant opens the case to agency from version from on, unless an open
// grant already covers it.
func (s *State) grant(agency string, from int64, basis GrantBasis, source, entry uuid.UUID) {
	for _, g := range s.Grants {
		if g.Agency == agency && g.Until < 0 && g.From <= from {
			return
		}
	}
	// Grants is shared with the State Evolve was given (see State): a new
	// slice keeps an earlier snapshot's list as it was.
	s.Grants = append(slices.Clip(s.Grants), Grant{Agency: agency, From: from, Until: -1, Basis: basis, Source: source, Entry: entry})
}

func (s *State) setReferral(id uuid.UUID, st ReferralStatus, at time.Time) {
	r := s.Referrals[id]
	r.Status = st
	if st == ReferralAcceptedStatus || st == ReferralRejectedStatus {
		r.AnsweredAt = at
	}
	s.Referrals[id] = r
}

func (s *State) endFollowUp(id uuid.UUID, st FollowUpStatus, at time.Time) {
	f := s.FollowUps[id]
	f.Status = st
	f.DoneAt = at
	s.FollowUps[id] = f
}

// PartyOfEntry returns the party an entry's personal values are about (a
// party's identification, a safety plan), or uuid.Nil.
func (s State) PartyOfEntry(event uuid.UUID) uuid.UUID {
	for _, p := range s.Parties {
		if p.EventID == event {
			return p.ID
		}
	}
	for _, p := range s.SafetyPlans {
		if p.EventID == event {
			return p.PartyID
		}
	}
	return uuid.Nil
}
