package domain

import (
	"time"

	"github.com/google/uuid"
)

// Event payloads, one struct per fact in the catalogue (DOMAIN.md). Field
// rules are struct tags read by the validator (validate.go). Personal data is
// tagged `cl:"personal"`. Type strings, schema versions and default
// compartments are in the registry (registry.go).

// Actor is who acted: the user, the role they acted in and their agency.
type Actor struct {
	UserID string `json:"user_id" cl:"required,max=128"`
	Role   Role   `json:"role" cl:"required"`
	Agency string `json:"agency" cl:"required,max=128"`
}

// ---- incident ----

// CallReceived is a 911/CAD call, walk-in or report that concerns the case.
type CallReceived struct {
	CADRef          string  `json:"cad_ref" cl:"required,max=64"`
	Channel         Channel `json:"channel" cl:"required"`
	Address         string  `json:"address,omitempty" cl:"personal,max=512"`
	NatureCode      string  `json:"nature_code" cl:"required,max=32"`
	Priority        int     `json:"priority" cl:"required,min=1,max=5"`
	ConjugalContext bool    `json:"conjugal_context"`
}

// AddressHistoryChecked records the prior calls found at the address.
type AddressHistoryChecked struct {
	PriorCalls     int      `json:"prior_calls" cl:"min=0,max=10000"`
	PersonsChecked []string `json:"persons_checked,omitempty" cl:"max=50"`
}

// InterventionRecorded is what the units did on scene.
type InterventionRecorded struct {
	Units     []string             `json:"units" cl:"required,max=50"`
	ArrivedAt time.Time            `json:"arrived_at" cl:"required"`
	ClearedAt time.Time            `json:"cleared_at" cl:"required"`
	Actions   []InterventionAction `json:"actions,omitempty" cl:"max=20"`
}

// SafeContact is a safe way and time to reach a party.
type SafeContact struct {
	Method  ContactMethod `json:"method" cl:"required"`
	Details string        `json:"details,omitempty" cl:"personal,max=256"`
	Hours   string        `json:"hours,omitempty" cl:"personal,max=128"`
}

// PartyIdentified adds a person to the case.
type PartyIdentified struct {
	PartyID          uuid.UUID     `json:"party_id" cl:"required,subject"`
	PersonID         string        `json:"person_id" cl:"required,max=64"`
	Role             PartyRole     `json:"role" cl:"required"`
	Relationship     Relationship  `json:"relationship,omitempty"`
	Cohabiting       bool          `json:"cohabiting"`
	ChildrenInCommon int           `json:"children_in_common" cl:"min=0,max=30"`
	Language         string        `json:"language,omitempty" cl:"max=16"`
	SafeContact      []SafeContact `json:"safe_contact,omitempty" cl:"max=10"`
}

// StatementTaken records a statement and the hash of its media.
type StatementTaken struct {
	StatementID uuid.UUID     `json:"statement_id" cl:"required"`
	PartyID     uuid.UUID     `json:"party_id" cl:"required"`
	Kind        StatementKind `json:"kind" cl:"required"`
	MediaRef    string        `json:"media_ref" cl:"required,max=256"`
	SHA256      string        `json:"sha256" cl:"required,sha256"`
}

// EvidenceLogged opens the chain of custody of one exhibit.
type EvidenceLogged struct {
	EvidenceID  uuid.UUID `json:"evidence_id" cl:"required"`
	Description string    `json:"description,omitempty" cl:"personal,max=1024"`
	MediaRef    string    `json:"media_ref" cl:"required,max=256"`
	SHA256      string    `json:"sha256" cl:"required,sha256"`
	Custodian   string    `json:"custodian" cl:"required,max=128"`
}

// EvidenceTransferred hands an exhibit from one custodian to the next.
type EvidenceTransferred struct {
	EvidenceID uuid.UUID `json:"evidence_id" cl:"required"`
	From       string    `json:"from" cl:"required,max=128"`
	To         string    `json:"to" cl:"required,max=128"`
	Reason     string    `json:"reason,omitempty" cl:"personal,max=512"`
}

// ArrestMade records an arrest of a party.
type ArrestMade struct {
	PartyID uuid.UUID `json:"party_id" cl:"required"`
	Charges []string  `json:"charges" cl:"required,max=30"`
}

// FileSubmittedToProsecutor records a file sent for charge approval.
type FileSubmittedToProsecutor struct {
	FileRef string   `json:"file_ref" cl:"required,max=64"`
	Office  string   `json:"office" cl:"required,max=128"`
	Charges []string `json:"charges" cl:"required,max=30"`
}

// IncidentClassified records the crime statistics code and clearance.
type IncidentClassified struct {
	UCRCode   string    `json:"ucr_code" cl:"required,max=16"`
	Clearance Clearance `json:"clearance" cl:"required"`
}

// ---- risk ----

// ItemAnswer is one answered item of a risk instrument.
type ItemAnswer struct {
	Item   string `json:"item" cl:"required,max=64"`
	Answer Answer `json:"answer" cl:"required"`
}

// Override is a professional override of an instrument's band.
type Override struct {
	Band   RiskBand `json:"band" cl:"required"`
	Reason string   `json:"reason" cl:"required,personal,max=2000"`
}

// RiskAssessmentCompleted records a structured risk assessment. Schema
// version 2 (current) holds band and item answers; version 1 held a "level"
// of low, moderate or high (see upcast.go).
type RiskAssessmentCompleted struct {
	AssessmentID      uuid.UUID    `json:"assessment_id" cl:"required"`
	Instrument        Instrument   `json:"instrument" cl:"required"`
	InstrumentVersion string       `json:"instrument_version,omitempty" cl:"max=32"`
	PartyID           uuid.UUID    `json:"party_id" cl:"required"`
	Informant         Informant    `json:"informant" cl:"required"`
	Items             []ItemAnswer `json:"items,omitempty" cl:"max=60"`
	Score             int          `json:"score" cl:"min=0,max=100"`
	Band              RiskBand     `json:"band" cl:"required"`
	Override          *Override    `json:"override,omitempty"`
}

// EffectiveBand is the band the case is managed at after this assessment:
// the override's when there is one.
func (a RiskAssessmentCompleted) EffectiveBand() RiskBand {
	if a.Override != nil {
		return a.Override.Band
	}
	return a.Band
}

// RiskLevelChanged moves the case's current risk band.
type RiskLevelChanged struct {
	From    RiskBand    `json:"from,omitempty"`
	To      RiskBand    `json:"to" cl:"required"`
	Trigger RiskTrigger `json:"trigger" cl:"required"`
	Reason  string      `json:"reason,omitempty" cl:"personal,max=2000"`
}

// HighRiskEscalated sends a high-risk case to the multi-agency table.
type HighRiskEscalated struct {
	To     string `json:"to" cl:"required,max=128"`
	Reason string `json:"reason,omitempty" cl:"personal,max=2000"`
}

// RapidResponseActivated opens a rapid-response cell on the case.
type RapidResponseActivated struct {
	CellID   uuid.UUID `json:"cell_id" cl:"required"`
	Partners []string  `json:"partners" cl:"required,max=30"`
}

// RapidResponseActionAssigned gives one partner an action in the cell.
type RapidResponseActionAssigned struct {
	CellID   uuid.UUID `json:"cell_id" cl:"required"`
	ActionID uuid.UUID `json:"action_id" cl:"required"`
	Action   string    `json:"action" cl:"required,personal,max=256"`
	Owner    string    `json:"owner" cl:"required,max=128"`
	DueBy    time.Time `json:"due_by" cl:"required"`
}

// RapidResponseClosed closes the cell.
type RapidResponseClosed struct {
	CellID  uuid.UUID `json:"cell_id" cl:"required"`
	Outcome string    `json:"outcome" cl:"required,personal,max=512"`
}

// InformationSharedWithoutConsent records a disclosure made without the
// person's consent, its legal basis and who authorised it.
type InformationSharedWithoutConsent struct {
	LegalBasis   LegalBasis `json:"legal_basis" cl:"required"`
	Recipients   []string   `json:"recipients" cl:"required,max=30"`
	DataShared   []string   `json:"data_shared" cl:"required,max=50"`
	AuthorisedBy Actor      `json:"authorised_by" cl:"required"`
}

// ---- protection ----

// SafetyPlanCreated records a safety plan with a party.
type SafetyPlanCreated struct {
	PlanID           uuid.UUID `json:"plan_id" cl:"required"`
	PartyID          uuid.UUID `json:"party_id" cl:"required,subject"`
	SafeContacts     []string  `json:"safe_contacts,omitempty" cl:"personal,max=20"`
	ShelterOption    bool      `json:"shelter_option"`
	ChildrenPlan     bool      `json:"children_plan"`
	TechnologySafety bool      `json:"technology_safety"`
	NextReviewBy     time.Time `json:"next_review_by,omitzero"`
}

// SafetyPlanReviewed records a review of a safety plan.
type SafetyPlanReviewed struct {
	PlanID       uuid.UUID `json:"plan_id" cl:"required"`
	Changes      string    `json:"changes,omitempty" cl:"personal,max=4096"`
	NextReviewBy time.Time `json:"next_review_by,omitzero"`
	// PartyID is the plan's party, filled in from the case: the changes go
	// under that party's key.
	PartyID uuid.UUID `json:"party_id,omitzero" cl:"subject"`
}

// ConditionsImposed records protection conditions binding a party.
type ConditionsImposed struct {
	ConditionID       uuid.UUID     `json:"condition_id" cl:"required"`
	Kind              ConditionKind `json:"kind" cl:"required"`
	BoundPartyID      uuid.UUID     `json:"bound_party_id" cl:"required"`
	ProtectedPartyIDs []uuid.UUID   `json:"protected_party_ids" cl:"required,max=20"`
	NoContact         bool          `json:"no_contact"`
	DistanceMetres    int           `json:"distance_metres" cl:"min=0,max=100000"`
	WeaponsProhibited bool          `json:"weapons_prohibited"`
	Issuer            string        `json:"issuer" cl:"required,max=128"`
	StartsAt          time.Time     `json:"starts_at" cl:"required"`
	EndsAt            time.Time     `json:"ends_at,omitzero"`
}

// ConditionsVaried changes active conditions.
type ConditionsVaried struct {
	ConditionID    uuid.UUID `json:"condition_id" cl:"required"`
	NoContact      *bool     `json:"no_contact,omitempty"`
	DistanceMetres *int      `json:"distance_metres,omitempty"`
	EndsAt         time.Time `json:"ends_at,omitzero"`
	Reason         string    `json:"reason" cl:"required,personal,max=1024"`
}

// ConditionsEnded ends conditions (expiry, revocation, acquittal).
type ConditionsEnded struct {
	ConditionID uuid.UUID `json:"condition_id" cl:"required"`
	Reason      string    `json:"reason" cl:"required,personal,max=1024"`
}

// BreachReported records a reported breach of active conditions.
type BreachReported struct {
	BreachID    uuid.UUID    `json:"breach_id" cl:"required"`
	ConditionID uuid.UUID    `json:"condition_id" cl:"required"`
	Source      BreachSource `json:"source" cl:"required"`
}

// BreachActioned records what was done about a breach.
type BreachActioned struct {
	BreachID uuid.UUID    `json:"breach_id" cl:"required"`
	Action   BreachAction `json:"action" cl:"required"`
}

// VictimNotified records that a victim was told of a court or custody event.
type VictimNotified struct {
	PartyID uuid.UUID         `json:"party_id" cl:"required"`
	About   NotificationEvent `json:"about" cl:"required"`
	Channel ContactMethod     `json:"channel" cl:"required"`
	EventAt time.Time         `json:"event_at,omitzero"`
}

// ---- referral ----

// ReferralOffered records a referral proposed to a party.
type ReferralOffered struct {
	ReferralID  uuid.UUID   `json:"referral_id" cl:"required"`
	Destination Destination `json:"destination" cl:"required"`
	PartyID     uuid.UUID   `json:"party_id" cl:"required"`
}

// ReferralDeclinedByClient records that the party declined an offer.
type ReferralDeclinedByClient struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
	Reason     string    `json:"reason,omitempty" cl:"personal,max=1024"`
}

// ReferralSent records a referral sent to a partner agency.
type ReferralSent struct {
	ReferralID  uuid.UUID   `json:"referral_id" cl:"required"`
	Destination Destination `json:"destination" cl:"required"`
	Agency      string      `json:"agency" cl:"required,max=128"`
	PartyID     uuid.UUID   `json:"party_id" cl:"required"`
	ConsentID   uuid.UUID   `json:"consent_id,omitzero"`
	DataShared  []string    `json:"data_shared,omitempty" cl:"max=50"`
}

// ReferralAccepted records the partner agency's acceptance.
type ReferralAccepted struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
}

// ReferralRejected records the partner agency's refusal.
type ReferralRejected struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
	Reason     string    `json:"reason" cl:"required,personal,max=1024"`
}

// ReferralRevoked withdraws a referral (consent withdrawn, sent in error).
type ReferralRevoked struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
	Reason     string    `json:"reason" cl:"required,personal,max=1024"`
}

// ServiceStarted records that the partner started the service.
type ServiceStarted struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
}

// ServiceCompleted records the end of the service and its outcome.
type ServiceCompleted struct {
	ReferralID uuid.UUID `json:"referral_id" cl:"required"`
	Outcome    string    `json:"outcome" cl:"required,personal,max=1024"`
}

// ---- follow-up ----

// FollowUpScheduled plans a contact with a party.
type FollowUpScheduled struct {
	FollowUpID uuid.UUID    `json:"follow_up_id" cl:"required"`
	PartyID    uuid.UUID    `json:"party_id" cl:"required"`
	Kind       FollowUpKind `json:"kind" cl:"required"`
	DueBy      time.Time    `json:"due_by" cl:"required"`
	Assignee   string       `json:"assignee" cl:"required,max=128"`
}

// FollowUpAttempted records an attempt that did not reach the party.
type FollowUpAttempted struct {
	FollowUpID uuid.UUID      `json:"follow_up_id" cl:"required"`
	Outcome    AttemptOutcome `json:"outcome" cl:"required"`
	NextStep   string         `json:"next_step,omitempty" cl:"personal,max=1024"`
}

// FollowUpCompleted records that the party was reached.
type FollowUpCompleted struct {
	FollowUpID uuid.UUID `json:"follow_up_id" cl:"required"`
	NextStep   string    `json:"next_step,omitempty" cl:"personal,max=1024"`
}

// FollowUpCancelled records a follow-up that will not be made.
type FollowUpCancelled struct {
	FollowUpID uuid.UUID `json:"follow_up_id" cl:"required"`
	Reason     string    `json:"reason" cl:"required,personal,max=1024"`
}

// ---- case ----

// CaseOpened opens the case file; it is always the first event of a case.
type CaseOpened struct {
	Module          Module   `json:"module" cl:"required"`
	Agency          string   `json:"agency" cl:"required,max=128"`
	SourceIncidents []string `json:"source_incidents,omitempty" cl:"max=50"`
}

// CasesLinked links this case to others (same couple, same victim…).
type CasesLinked struct {
	LinkedCaseIDs []uuid.UUID `json:"linked_case_ids" cl:"required,max=50"`
	Reason        LinkReason  `json:"reason" cl:"required"`
}

// CaseAssigned assigns the case to a worker.
type CaseAssigned struct {
	Assignee string `json:"assignee" cl:"required,max=128"`
	Agency   string `json:"agency" cl:"required,max=128"`
}

// TransferRequested asks another agency or worker to take the case.
type TransferRequested struct {
	TransferID uuid.UUID `json:"transfer_id" cl:"required"`
	ToAgency   string    `json:"to_agency" cl:"required,max=128"`
	ToUser     string    `json:"to_user,omitempty" cl:"max=128"`
	Reason     string    `json:"reason" cl:"required,personal,max=1024"`
}

// TransferAccepted moves the case to the receiving agency.
type TransferAccepted struct {
	TransferID uuid.UUID `json:"transfer_id" cl:"required"`
}

// TransferRejected refuses a transfer.
type TransferRejected struct {
	TransferID uuid.UUID `json:"transfer_id" cl:"required"`
	Reason     string    `json:"reason" cl:"required,personal,max=1024"`
}

// CaseFlagged raises a warning flag on the case.
type CaseFlagged struct {
	FlagID  uuid.UUID `json:"flag_id" cl:"required"`
	Kind    FlagKind  `json:"kind" cl:"required"`
	Message string    `json:"message,omitempty" cl:"personal,max=1024"`
}

// FlagResolved resolves a flag.
type FlagResolved struct {
	FlagID     uuid.UUID `json:"flag_id" cl:"required"`
	Resolution string    `json:"resolution" cl:"required,personal,max=1024"`
}

// ClosureRequested asks a supervisor to approve closing the case.
type ClosureRequested struct {
	Reason        ClosureReason `json:"reason" cl:"required"`
	Justification string        `json:"justification,omitempty" cl:"personal,max=4096"`
}

// ClosureApproved is a supervisor's approval of the pending closure request.
type ClosureApproved struct {
	Comment string `json:"comment,omitempty" cl:"personal,max=1024"`
}

// ClosureRejected is a supervisor's refusal of the pending closure request.
type ClosureRejected struct {
	Reason string `json:"reason" cl:"required,personal,max=1024"`
}

// CaseClosed closes the case. Justification says why it closes while
// conditions are active or follow-ups are open.
type CaseClosed struct {
	Reason        ClosureReason `json:"reason" cl:"required"`
	Justification string        `json:"justification,omitempty" cl:"personal,max=4096"`
}

// CaseReopened reopens a closed case.
type CaseReopened struct {
	Trigger ReopenTrigger `json:"trigger" cl:"required"`
	Reason  string        `json:"reason,omitempty" cl:"personal,max=1024"`
}

// ---- consent and privacy ----

// ConsentRecorded records a party's consent. For sharing, Agency or
// Destination names whom it allows sharing with.
type ConsentRecorded struct {
	ConsentID   uuid.UUID     `json:"consent_id" cl:"required"`
	PartyID     uuid.UUID     `json:"party_id" cl:"required"`
	Scope       ConsentScope  `json:"scope" cl:"required"`
	Destination Destination   `json:"destination,omitempty"`
	Agency      string        `json:"agency,omitempty" cl:"max=128"`
	FormVersion string        `json:"form_version,omitempty" cl:"max=32"`
	Method      ConsentMethod `json:"method" cl:"required"`
	ExpiresAt   time.Time     `json:"expires_at,omitzero"`
}

// ConsentWithdrawn withdraws a consent.
type ConsentWithdrawn struct {
	ConsentID uuid.UUID `json:"consent_id" cl:"required"`
}

// LegalHoldPlaced puts the case, or part of it, under a legal hold.
type LegalHoldPlaced struct {
	HoldID uuid.UUID `json:"hold_id" cl:"required"`
	Matter string    `json:"matter" cl:"required,max=128"`
	Scope  HoldScope `json:"scope" cl:"required"`
}

// LegalHoldReleased releases a legal hold.
type LegalHoldReleased struct {
	HoldID uuid.UUID `json:"hold_id" cl:"required"`
	Reason string    `json:"reason,omitempty" cl:"max=1024"`
}

// PersonalDataErased records that personal data of the case was erased:
// the data keys it names are destroyed right after this event is recorded,
// so every value under them reads as erased from then on, while the
// events, their ids, dates and codes, and every hash and proof over them
// stay. The authoriser is the event's actor.
type PersonalDataErased struct {
	// Scope is what was erased: "case", every personal value of the case
	// (its own key and its parties'); "person", the values about one
	// person (the keys of the parties that are that person).
	Scope string `json:"scope" cl:"required,max=16"`
	// PersonID is the person erased (scope "person").
	PersonID string `json:"person_id,omitempty" cl:"max=64"`
	// PartyIDs are the parties whose keys are destroyed: every party of
	// the case (scope "case"), or those that are the person. Filled in
	// from the case.
	PartyIDs []uuid.UUID `json:"party_ids,omitempty" cl:"max=50"`
	// Rule names the retention rule applied, when a rule erased it.
	Rule string `json:"rule,omitempty" cl:"max=64"`
	// Reason is the authoriser's justification (a reference, never
	// personal data).
	Reason string `json:"reason" cl:"required,max=512"`
}

// Erasure scopes.
const (
	// ErasureScopeCase erases every personal value of the case.
	ErasureScopeCase = "case"
	// ErasureScopePerson erases the values about one person: those of
	// the events about the parties that are that person (their
	// identification, safe contacts, safety plans). Narrative of the case
	// (notes, reasons, outcomes) stays under the case's key.
	ErasureScopePerson = "person"
)

// DisclosedItem is one event disclosed and the hash of its stored bytes.
type DisclosedItem struct {
	EventID uuid.UUID `json:"event_id" cl:"required"`
	SHA256  string    `json:"sha256" cl:"required,sha256"`
}

// DisclosureProduced records what was disclosed, to whom, under what order.
type DisclosureProduced struct {
	DisclosureID uuid.UUID       `json:"disclosure_id" cl:"required"`
	Recipient    Recipient       `json:"recipient" cl:"required"`
	OrderID      uuid.UUID       `json:"order_id,omitzero"`
	Items        []DisclosedItem `json:"items" cl:"required,max=100000"`
}

// ProductionOrderReceived records a court order to produce records; a
// sealed entry is only opened under one.
type ProductionOrderReceived struct {
	OrderID  uuid.UUID `json:"order_id" cl:"required"`
	Court    string    `json:"court" cl:"required,max=128"`
	FileRef  string    `json:"file_ref" cl:"required,max=64"`
	Scope    string    `json:"scope" cl:"required,max=1024"`
	IssuedAt time.Time `json:"issued_at" cl:"required"`
}

// ---- notes and corrections ----

// NoteAdded is a free-text note; its compartment is the envelope's.
type NoteAdded struct {
	NoteID uuid.UUID `json:"note_id" cl:"required"`
	Text   string    `json:"text" cl:"required,personal,max=20000"`
}

// FieldChange is one corrected field of a target entry.
type FieldChange struct {
	Field string `json:"field" cl:"required,max=64"`
	Value string `json:"value" cl:"personal,max=20000"`
}

// EntryCorrected corrects fields of an earlier event, which stays as it was.
// NewCompartment, when set, reclassifies the target (never more widely).
type EntryCorrected struct {
	TargetEventID  uuid.UUID     `json:"target_event_id" cl:"required"`
	Changes        []FieldChange `json:"changes" cl:"required,max=50"`
	Reason         string        `json:"reason" cl:"required,personal,max=1024"`
	NewCompartment Compartment   `json:"new_compartment,omitempty"`
	// PartyID is the party whose entry (identification, safety plan) is
	// corrected, filled in from the case: the new values go under that
	// party's key, and go with the person's erasure.
	PartyID uuid.UUID `json:"party_id,omitzero" cl:"subject"`
}

// EntryRedacted hides fields of an earlier event from every view; the stored
// bytes stay (the chain depends on them).
type EntryRedacted struct {
	TargetEventID uuid.UUID `json:"target_event_id" cl:"required"`
	Fields        []string  `json:"fields" cl:"required,max=50"`
	LegalBasis    string    `json:"legal_basis" cl:"required,max=512"`
}

// Annotated is the earlier entry a correction, redaction or marking in
// error points at, or Nil for any other event.
func Annotated(d EventData) uuid.UUID {
	switch d := d.(type) {
	case EntryCorrected:
		return d.TargetEventID
	case EntryRedacted:
		return d.TargetEventID
	case EntryMarkedInError:
		return d.TargetEventID
	}
	return uuid.Nil
}

// EntryMarkedInError marks an earlier event as entered in error.
type EntryMarkedInError struct {
	TargetEventID uuid.UUID `json:"target_event_id" cl:"required"`
	Reason        string    `json:"reason" cl:"required,personal,max=1024"`
}

// ---- access (own streams, access-<yyyy-mm-dd>) ----

// RecordViewed records that someone read case data, and whether it was denied.
type RecordViewed struct {
	CaseID   uuid.UUID `json:"case_id" cl:"required"`
	Purpose  string    `json:"purpose" cl:"required,max=256"`
	Sections []string  `json:"sections" cl:"required,max=50"`
	Denied   bool      `json:"denied"`
	Reason   string    `json:"reason,omitempty" cl:"max=512"`
	// OrderID is the production order the reader invoked to open sealed
	// entries, when one was.
	OrderID uuid.UUID `json:"order_id,omitzero"`
}

// ListViewed records a read of a list, a search or the dashboard, allowed
// or denied: which list, why, what it was asked for (ids only, e.g.
// "assignee=sw-3"), how many cases it revealed (each also gets its own
// RecordViewed), and why it was denied.
type ListViewed struct {
	List    string   `json:"list" cl:"required,max=64"`
	Purpose string   `json:"purpose,omitempty" cl:"max=256"`
	Filters []string `json:"filters,omitempty" cl:"max=10"`
	Cases   int      `json:"cases"`
	Denied  bool     `json:"denied"`
	Reason  string   `json:"reason,omitempty" cl:"max=512"`
}

// AccessRefused is a security event: a request refused before anything
// was read, for want of a valid credential (401) or because the caller's
// role may not use the route (403). It holds no data: the route pattern
// (never its values), the status, why, and the caller when one was
// identified (the event's actor; "unauthenticated" when none was).
type AccessRefused struct {
	Route  string `json:"route" cl:"required,max=128"`
	Status int    `json:"status" cl:"required,min=400,max=499"`
	Reason string `json:"reason" cl:"required,max=512"`
}

// BreakGlassAccess records an emergency read outside the reader's normal
// rights, with its justification.
type BreakGlassAccess struct {
	CaseID        uuid.UUID `json:"case_id" cl:"required"`
	Justification string    `json:"justification" cl:"required,max=2048"`
	Sections      []string  `json:"sections" cl:"required,max=50"`
}

// DataKeysCreated records that personal-data keys were made (ids only: a
// subject is "c" and a case id, or "p", a case id, "." and a party id).
// With the erasures that destroy them, every key's life is in the record:
// `verify` finds a key made and then removed without an erasure.
type DataKeysCreated struct {
	Subjects []string `json:"subjects" cl:"required,max=1000"`
}
