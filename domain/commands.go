package domain

import (
	"log/slog"
	"reflect"
	"time"

	"github.com/google/uuid"
)

// CommandHeader is what every command carries besides its body: which case,
// the idempotency id of the message, who acts, when it happened in the real
// world and which system sent it. Compartment, when set, narrows where the
// resulting events are recorded (it can never widen them).
type CommandHeader struct {
	CaseID        uuid.UUID   `json:"case_id" cl:"required"`
	CommandID     uuid.UUID   `json:"command_id" cl:"required"`
	Actor         Actor       `json:"actor" cl:"required"`
	OccurredAt    time.Time   `json:"occurred_at" cl:"required"`
	SourceSystem  string      `json:"source_system" cl:"required,max=64"`
	Compartment   Compartment `json:"compartment,omitempty"`
	CorrelationID uuid.UUID   `json:"correlation_id,omitzero"`
}

// Head returns the header; every command has it through embedding.
func (h CommandHeader) Head() CommandHeader { return h }

// LogValue logs a command by its ids only. Every command embeds the header,
// so every command logs this way and its body, which may hold personal data,
// never reaches a log.
func (h CommandHeader) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("case_id", h.CaseID.String()),
		slog.String("command_id", h.CommandID.String()),
		slog.String("actor", h.Actor.UserID),
		slog.String("role", string(h.Actor.Role)),
	)
}

// Command is an instruction to change a case: one of the structs below.
type Command interface {
	Head() CommandHeader
}

// Commands. Most carry exactly the payload of the event they produce, embedded
// so that the JSON on the wire is flat: {"case_id":…, "referral_id":…}.
type (
	OpenCase struct {
		CommandHeader
		CaseOpened
	}
	ReceiveCall struct {
		CommandHeader
		CallReceived
	}
	CheckAddressHistory struct {
		CommandHeader
		AddressHistoryChecked
	}
	RecordIntervention struct {
		CommandHeader
		InterventionRecorded
	}
	IdentifyParty struct {
		CommandHeader
		PartyIdentified
	}
	TakeStatement struct {
		CommandHeader
		StatementTaken
	}
	LogEvidence struct {
		CommandHeader
		EvidenceLogged
	}
	TransferEvidence struct {
		CommandHeader
		EvidenceTransferred
	}
	MakeArrest struct {
		CommandHeader
		ArrestMade
	}
	SubmitFileToProsecutor struct {
		CommandHeader
		FileSubmittedToProsecutor
	}
	ClassifyIncident struct {
		CommandHeader
		IncidentClassified
	}

	// CompleteRiskAssessment also records a RiskLevelChanged when the
	// assessment's effective band differs from the case's current band.
	CompleteRiskAssessment struct {
		CommandHeader
		RiskAssessmentCompleted
	}
	// ChangeRiskLevel moves the band outside an assessment; the previous band
	// is filled in from the case.
	ChangeRiskLevel struct {
		CommandHeader
		To      RiskBand    `json:"to" cl:"required"`
		Trigger RiskTrigger `json:"trigger" cl:"required"`
		Reason  string      `json:"reason,omitempty" cl:"personal,max=2000"`
	}
	EscalateHighRisk struct {
		CommandHeader
		HighRiskEscalated
	}
	ActivateRapidResponse struct {
		CommandHeader
		RapidResponseActivated
	}
	AssignRapidResponseAction struct {
		CommandHeader
		RapidResponseActionAssigned
	}
	CloseRapidResponse struct {
		CommandHeader
		RapidResponseClosed
	}
	ShareInformationWithoutConsent struct {
		CommandHeader
		InformationSharedWithoutConsent
	}

	CreateSafetyPlan struct {
		CommandHeader
		SafetyPlanCreated
	}
	ReviewSafetyPlan struct {
		CommandHeader
		SafetyPlanReviewed
	}
	ImposeConditions struct {
		CommandHeader
		ConditionsImposed
	}
	VaryConditions struct {
		CommandHeader
		ConditionsVaried
	}
	EndConditions struct {
		CommandHeader
		ConditionsEnded
	}
	ReportBreach struct {
		CommandHeader
		BreachReported
	}
	ActionBreach struct {
		CommandHeader
		BreachActioned
	}
	NotifyVictim struct {
		CommandHeader
		VictimNotified
	}

	OfferReferral struct {
		CommandHeader
		ReferralOffered
	}
	RecordReferralDeclined struct {
		CommandHeader
		ReferralDeclinedByClient
	}
	// SendReferral needs an active sharing consent of the party for the
	// destination or agency, or WithoutConsent: the decision to share
	// without it, recorded in the same append.
	SendReferral struct {
		CommandHeader
		ReferralSent
		WithoutConsent *InformationSharedWithoutConsent `json:"without_consent,omitempty"`
	}
	AcceptReferral struct {
		CommandHeader
		ReferralAccepted
	}
	RejectReferral struct {
		CommandHeader
		ReferralRejected
	}
	RevokeReferral struct {
		CommandHeader
		ReferralRevoked
	}
	StartService struct {
		CommandHeader
		ServiceStarted
	}
	CompleteService struct {
		CommandHeader
		ServiceCompleted
	}

	ScheduleFollowUp struct {
		CommandHeader
		FollowUpScheduled
	}
	AttemptFollowUp struct {
		CommandHeader
		FollowUpAttempted
	}
	CompleteFollowUp struct {
		CommandHeader
		FollowUpCompleted
	}
	CancelFollowUp struct {
		CommandHeader
		FollowUpCancelled
	}

	LinkCases struct {
		CommandHeader
		CasesLinked
	}
	AssignCase struct {
		CommandHeader
		CaseAssigned
	}
	RequestTransfer struct {
		CommandHeader
		TransferRequested
	}
	AcceptTransfer struct {
		CommandHeader
		TransferAccepted
	}
	RejectTransfer struct {
		CommandHeader
		TransferRejected
	}
	FlagCase struct {
		CommandHeader
		CaseFlagged
	}
	ResolveFlag struct {
		CommandHeader
		FlagResolved
	}
	RequestClosure struct {
		CommandHeader
		ClosureRequested
	}
	ApproveClosure struct {
		CommandHeader
		ClosureApproved
	}
	RejectClosure struct {
		CommandHeader
		ClosureRejected
	}
	CloseCase struct {
		CommandHeader
		CaseClosed
	}
	ReopenCase struct {
		CommandHeader
		CaseReopened
	}

	RecordConsent struct {
		CommandHeader
		ConsentRecorded
	}
	WithdrawConsent struct {
		CommandHeader
		ConsentWithdrawn
	}
	PlaceLegalHold struct {
		CommandHeader
		LegalHoldPlaced
	}
	ReleaseLegalHold struct {
		CommandHeader
		LegalHoldReleased
	}
	// ErasePersonalData erases the case's personal data (see
	// PersonalDataErased); refused while a legal hold is active.
	ErasePersonalData struct {
		CommandHeader
		PersonalDataErased
	}
	ProduceDisclosure struct {
		CommandHeader
		DisclosureProduced
	}
	ReceiveProductionOrder struct {
		CommandHeader
		ProductionOrderReceived
	}

	// AddNote records a note; with no compartment in the header it goes to
	// the author's side: police roles to police, social workers to
	// social_work, everyone else to shared.
	AddNote struct {
		CommandHeader
		NoteAdded
	}
	CorrectEntry struct {
		CommandHeader
		EntryCorrected
	}
	RedactEntry struct {
		CommandHeader
		EntryRedacted
	}
	MarkEntryInError struct {
		CommandHeader
		EntryMarkedInError
	}
)

type commandSpec struct {
	name   string
	goType reflect.Type
}

var (
	commandsByName   = map[string]*commandSpec{}
	commandsByGoType = map[reflect.Type]*commandSpec{}
	commandList      []*commandSpec
)

func registerCommand[T Command](name string) {
	s := &commandSpec{name: name, goType: reflect.TypeFor[T]()}
	commandsByName[name] = s
	commandsByGoType[s.goType] = s
	commandList = append(commandList, s)
}

// Command names are the last token of the NATS intake subject
// (caseledger.intake.<name>) and of the HTTP command path; like event type
// strings they are frozen once shipped.
func init() {
	registerCommand[OpenCase]("open_case")
	registerCommand[ReceiveCall]("receive_call")
	registerCommand[CheckAddressHistory]("check_address_history")
	registerCommand[RecordIntervention]("record_intervention")
	registerCommand[IdentifyParty]("identify_party")
	registerCommand[TakeStatement]("take_statement")
	registerCommand[LogEvidence]("log_evidence")
	registerCommand[TransferEvidence]("transfer_evidence")
	registerCommand[MakeArrest]("make_arrest")
	registerCommand[SubmitFileToProsecutor]("submit_file_to_prosecutor")
	registerCommand[ClassifyIncident]("classify_incident")
	registerCommand[CompleteRiskAssessment]("complete_risk_assessment")
	registerCommand[ChangeRiskLevel]("change_risk_level")
	registerCommand[EscalateHighRisk]("escalate_high_risk")
	registerCommand[ActivateRapidResponse]("activate_rapid_response")
	registerCommand[AssignRapidResponseAction]("assign_rapid_response_action")
	registerCommand[CloseRapidResponse]("close_rapid_response")
	registerCommand[ShareInformationWithoutConsent]("share_information_without_consent")
	registerCommand[CreateSafetyPlan]("create_safety_plan")
	registerCommand[ReviewSafetyPlan]("review_safety_plan")
	registerCommand[ImposeConditions]("impose_conditions")
	registerCommand[VaryConditions]("vary_conditions")
	registerCommand[EndConditions]("end_conditions")
	registerCommand[ReportBreach]("report_breach")
	registerCommand[ActionBreach]("action_breach")
	registerCommand[NotifyVictim]("notify_victim")
	registerCommand[OfferReferral]("offer_referral")
	registerCommand[RecordReferralDeclined]("record_referral_declined")
	registerCommand[SendReferral]("send_referral")
	registerCommand[AcceptReferral]("accept_referral")
	registerCommand[RejectReferral]("reject_referral")
	registerCommand[RevokeReferral]("revoke_referral")
	registerCommand[StartService]("start_service")
	registerCommand[CompleteService]("complete_service")
	registerCommand[ScheduleFollowUp]("schedule_follow_up")
	registerCommand[AttemptFollowUp]("attempt_follow_up")
	registerCommand[CompleteFollowUp]("complete_follow_up")
	registerCommand[CancelFollowUp]("cancel_follow_up")
	registerCommand[LinkCases]("link_cases")
	registerCommand[AssignCase]("assign_case")
	registerCommand[RequestTransfer]("request_transfer")
	registerCommand[AcceptTransfer]("accept_transfer")
	registerCommand[RejectTransfer]("reject_transfer")
	registerCommand[FlagCase]("flag_case")
	registerCommand[ResolveFlag]("resolve_flag")
	registerCommand[RequestClosure]("request_closure")
	registerCommand[ApproveClosure]("approve_closure")
	registerCommand[RejectClosure]("reject_closure")
	registerCommand[CloseCase]("close_case")
	registerCommand[ReopenCase]("reopen_case")
	registerCommand[RecordConsent]("record_consent")
	registerCommand[WithdrawConsent]("withdraw_consent")
	registerCommand[PlaceLegalHold]("place_legal_hold")
	registerCommand[ReleaseLegalHold]("release_legal_hold")
	registerCommand[ErasePersonalData]("erase_personal_data")
	registerCommand[ProduceDisclosure]("produce_disclosure")
	registerCommand[ReceiveProductionOrder]("receive_production_order")
	registerCommand[AddNote]("add_note")
	registerCommand[CorrectEntry]("correct_entry")
	registerCommand[RedactEntry]("redact_entry")
	registerCommand[MarkEntryInError]("mark_entry_in_error")
}

// CommandName returns the frozen name of a command, or "" if its type is not
// in the catalogue.
func CommandName(c Command) string {
	if c == nil {
		return ""
	}
	if s := commandsByGoType[reflect.TypeOf(c)]; s != nil {
		return s.name
	}
	return ""
}

// CommandNames lists every command name in catalogue order.
func CommandNames() []string {
	out := make([]string, len(commandList))
	for i, s := range commandList {
		out[i] = s.name
	}
	return out
}

// CommandGoType returns the Go type of a named command (for schema
// generators), or nil when the name is not in the catalogue.
func CommandGoType(name string) reflect.Type {
	if s := commandsByName[name]; s != nil {
		return s.goType
	}
	return nil
}
