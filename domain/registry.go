package domain

import (
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// EventData is the payload of an event: one of the structs in events.go.
// Only types listed in the registry can be encoded or decoded.
type EventData any

// EventSpec describes one event type: its frozen type string, its current
// schema version and the compartment it is recorded in unless a command
// narrows it.
type EventSpec struct {
	Type        string
	Version     int
	Compartment Compartment
	goType      reflect.Type
}

var (
	specsByType   = map[string]*EventSpec{}
	specsByGoType = map[reflect.Type]*EventSpec{}
	specList      []*EventSpec
)

func register[T any](typ string, version int, c Compartment) {
	s := &EventSpec{Type: typ, Version: version, Compartment: c, goType: reflect.TypeFor[T]()}
	// A type registered twice would be a programming error; TestRegistry
	// checks that every type string and Go type appears once.
	specsByType[typ] = s
	specsByGoType[s.goType] = s
	specList = append(specList, s)
}

// The type strings below are frozen: they are stored with every event and
// renaming one would orphan history. Add new types; never rename.
func init() {
	const (
		police = CompartmentPolice
		social = CompartmentSocialWork
		shared = CompartmentShared
	)
	register[CallReceived]("case.call_received", 1, police)
	register[AddressHistoryChecked]("case.address_history_checked", 1, police)
	register[InterventionRecorded]("case.intervention_recorded", 1, police)
	register[PartyIdentified]("case.party_identified", 1, shared)
	register[StatementTaken]("case.statement_taken", 1, police)
	register[EvidenceLogged]("case.evidence_logged", 1, police)
	register[EvidenceTransferred]("case.evidence_transferred", 1, police)
	register[ArrestMade]("case.arrest_made", 1, police)
	register[FileSubmittedToProsecutor]("case.file_submitted_to_prosecutor", 1, police)
	register[IncidentClassified]("case.incident_classified", 1, police)

	register[RiskAssessmentCompleted]("case.risk_assessment_completed", 2, shared)
	register[RiskLevelChanged]("case.risk_level_changed", 1, shared)
	register[HighRiskEscalated]("case.high_risk_escalated", 1, shared)
	register[RapidResponseActivated]("case.rapid_response_activated", 1, shared)
	register[RapidResponseActionAssigned]("case.rapid_response_action_assigned", 1, shared)
	register[RapidResponseClosed]("case.rapid_response_closed", 1, shared)
	register[InformationSharedWithoutConsent]("case.information_shared_without_consent", 1, shared)

	register[SafetyPlanCreated]("case.safety_plan_created", 1, social)
	register[SafetyPlanReviewed]("case.safety_plan_reviewed", 1, social)
	register[ConditionsImposed]("case.conditions_imposed", 1, shared)
	register[ConditionsVaried]("case.conditions_varied", 1, shared)
	register[ConditionsEnded]("case.conditions_ended", 1, shared)
	register[BreachReported]("case.breach_reported", 1, shared)
	register[BreachActioned]("case.breach_actioned", 1, police)
	register[VictimNotified]("case.victim_notified", 1, shared)

	register[ReferralOffered]("case.referral_offered", 1, shared)
	register[ReferralDeclinedByClient]("case.referral_declined_by_client", 1, shared)
	register[ReferralSent]("case.referral_sent", 1, shared)
	register[ReferralAccepted]("case.referral_accepted", 1, shared)
	register[ReferralRejected]("case.referral_rejected", 1, shared)
	register[ReferralRevoked]("case.referral_revoked", 1, shared)
	register[ServiceStarted]("case.service_started", 1, shared)
	register[ServiceCompleted]("case.service_completed", 1, shared)

	register[FollowUpScheduled]("case.follow_up_scheduled", 1, shared)
	register[FollowUpAttempted]("case.follow_up_attempted", 1, shared)
	register[FollowUpCompleted]("case.follow_up_completed", 1, shared)
	register[FollowUpCancelled]("case.follow_up_cancelled", 1, shared)

	register[CaseOpened]("case.opened", 1, shared)
	register[CasesLinked]("case.cases_linked", 1, shared)
	register[CaseAssigned]("case.assigned", 1, shared)
	register[TransferRequested]("case.transfer_requested", 1, shared)
	register[TransferAccepted]("case.transfer_accepted", 1, shared)
	register[TransferRejected]("case.transfer_rejected", 1, shared)
	register[CaseFlagged]("case.flagged", 1, shared)
	register[FlagResolved]("case.flag_resolved", 1, shared)
	register[ClosureRequested]("case.closure_requested", 1, shared)
	register[ClosureApproved]("case.closure_approved", 1, shared)
	register[ClosureRejected]("case.closure_rejected", 1, shared)
	register[CaseClosed]("case.closed", 1, shared)
	register[CaseReopened]("case.reopened", 1, shared)

	register[ConsentRecorded]("case.consent_recorded", 1, shared)
	register[ConsentWithdrawn]("case.consent_withdrawn", 1, shared)
	register[LegalHoldPlaced]("case.legal_hold_placed", 1, shared)
	register[LegalHoldReleased]("case.legal_hold_released", 1, shared)
	register[PersonalDataErased]("case.personal_data_erased", 1, shared)
	register[DisclosureProduced]("case.disclosure_produced", 1, police)
	register[ProductionOrderReceived]("case.production_order_received", 1, police)

	register[NoteAdded]("case.note_added", 1, shared)
	register[EntryCorrected]("case.entry_corrected", 1, shared)
	register[EntryRedacted]("case.entry_redacted", 1, shared)
	register[EntryMarkedInError]("case.entry_marked_in_error", 1, shared)

	register[RecordViewed]("access.record_viewed", 1, police)
	register[BreakGlassAccess]("access.break_glass", 1, police)
	register[ListViewed]("access.list_viewed", 1, police)
	register[AccessRefused]("access.refused", 1, police)
	register[DataKeysCreated]("access.data_keys_created", 1, police)
}

// Spec returns the spec of an event type string, or nil if it is unknown.
func Spec(typ string) *EventSpec { return specsByType[typ] }

// SpecOf returns the spec of a payload, or nil if its Go type is not an event.
func SpecOf(d EventData) *EventSpec {
	if d == nil {
		return nil
	}
	return specsByGoType[reflect.TypeOf(d)]
}

// EventTypes lists every registered type string, in catalogue order.
func EventTypes() []string {
	out := make([]string, len(specList))
	for i, s := range specList {
		out[i] = s.Type
	}
	return out
}

// newData returns a pointer to a zero payload of the spec's type.
func (s *EventSpec) newData() any { return reflect.New(s.goType).Interface() }

// GoType returns the payload's Go type (for schema generators).
func (s *EventSpec) GoType() reflect.Type { return s.goType }

// Meta is the envelope around a payload: who, when, from where, seen by whom,
// and why (correlation and causation).
type Meta struct {
	Actor         Actor       `json:"actor" cl:"required"`
	OccurredAt    time.Time   `json:"occurred_at" cl:"required"`
	RecordedAt    time.Time   `json:"recorded_at" cl:"required"`
	SourceSystem  string      `json:"source_system" cl:"required,max=64"`
	CorrelationID uuid.UUID   `json:"correlation_id,omitzero"`
	CausationID   uuid.UUID   `json:"causation_id,omitzero"`
	Compartment   Compartment `json:"compartment" cl:"required"`
	// TraceParent is the W3C trace context of the command that recorded
	// the event (ids only), so that a trace follows it to the projections.
	TraceParent string `json:"traceparent,omitempty" cl:"max=128"`
	// CommandDigest is, on a command's first event, the SHA-256 (hex) of
	// the command as decided (CommandDigest), sealed by a store that
	// encrypts personal data ("h1:" and an HMAC under a key of the
	// command's data subject, casefile.DigestSealer): a later command with
	// the same id and another body is refused, not absorbed as a retry.
	CommandDigest string `json:"command_digest,omitempty" cl:"max=80"`
}

// Event is one recorded fact about a case: a payload in its envelope.
type Event struct {
	ID     uuid.UUID
	CaseID uuid.UUID
	Meta   Meta
	Data   EventData
}

// Type returns the event's frozen type string, or "" if its payload is not
// registered.
func (e Event) Type() string {
	if s := SpecOf(e.Data); s != nil {
		return s.Type
	}
	return ""
}

// LogValue keeps payloads, which may hold personal data, out of logs: only
// ids, type and compartment are logged.
func (e Event) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("event_id", e.ID.String()),
		slog.String("case_id", e.CaseID.String()),
		slog.String("type", e.Type()),
		slog.String("compartment", string(e.Meta.Compartment)),
	)
}

// StreamName is the event-store stream of a case.
func StreamName(caseID uuid.UUID) string { return "case-" + caseID.String() }

// CaseIDOf returns the case of a case-<uuid> stream name.
func CaseIDOf(stream string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(stream, "case-")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil && id.String() == rest
}
