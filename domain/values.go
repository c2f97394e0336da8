package domain

import (
	"slices"
	"strings"
)

// enum is implemented by every closed set of string values in the catalogue.
// The validator calls valid on non-empty values; required-ness is a field tag.
type enum interface {
	valid() bool
	allowed() []string
}

func oneOf(v string, set []string) bool { return slices.Contains(set, v) }

// Compartment says who may see an event.
//   - police: police roles and auditors.
//   - social_work: social workers, their supervisors and auditors; never police roles.
//   - shared: everyone on the case.
//   - sealed: nobody without a recorded court order.
type Compartment string

const (
	CompartmentPolice     Compartment = "police"
	CompartmentSocialWork Compartment = "social_work"
	CompartmentShared     Compartment = "shared"
	CompartmentSealed     Compartment = "sealed"
)

var compartments = []string{"police", "social_work", "shared", "sealed"}

func (c Compartment) valid() bool       { return oneOf(string(c), compartments) }
func (c Compartment) allowed() []string { return compartments }

// NarrowerOrEqual reports whether every reader allowed by c is also allowed by
// wider: shared is the widest, police and social_work are disjoint, and sealed
// is narrower than all. A correction may move an entry only to a compartment
// that is narrower or equal.
func (c Compartment) NarrowerOrEqual(wider Compartment) bool {
	switch {
	case c == wider, c == CompartmentSealed, wider == CompartmentShared:
		return true
	}
	return false
}

// Role is the role an actor acted in.
type Role string

const (
	RoleOfficer      Role = "officer"
	RoleInvestigator Role = "investigator"
	RoleSocialWorker Role = "social_worker"
	RoleSupervisor   Role = "supervisor"
	RoleAuditor      Role = "auditor"
	RolePartner      Role = "partner"
	RoleAdmin        Role = "admin"
	// RoleSystem is an emitting system acting on its own (CAD, bracelet monitoring).
	RoleSystem Role = "system"
)

var roles = []string{"officer", "investigator", "social_worker", "supervisor", "auditor", "partner", "admin", "system"}

func (r Role) valid() bool       { return oneOf(string(r), roles) }
func (r Role) allowed() []string { return roles }

// IsPolice reports whether the role belongs to the police side.
func (r Role) IsPolice() bool { return r == RoleOfficer || r == RoleInvestigator }

// Reads returns the compartments a role reads on a case of its agency:
// police roles never social work, social workers never police entries,
// supervisors and auditors both; partners, admins and systems no case file.
// Sealed entries are in no role's list: they open only under a production
// order, which the access package judges. This is the one table of
// compartments by role.
func (r Role) Reads() []Compartment {
	switch r {
	case RoleOfficer, RoleInvestigator:
		return []Compartment{CompartmentPolice, CompartmentShared}
	case RoleSocialWorker:
		return []Compartment{CompartmentSocialWork, CompartmentShared}
	case RoleSupervisor, RoleAuditor:
		return []Compartment{CompartmentPolice, CompartmentSocialWork, CompartmentShared}
	}
	return nil
}

// Sees reports whether the role may see entries of a compartment when it
// writes, and so correct, redact or mark them in error: the compartments it
// reads, and sealed entries for investigators and supervisors (reading them
// through the API or an export also needs a recorded order).
func (r Role) Sees(c Compartment) bool {
	switch c {
	case CompartmentShared:
		return true // everyone on the case, emitting systems included
	case CompartmentSealed:
		return r == RoleInvestigator || r == RoleSupervisor
	}
	return slices.Contains(r.Reads(), c)
}

// Channel is how a call reached the police.
type Channel string

var channels = []string{"911", "walk_in", "partner", "third_party", "online"}

func (c Channel) valid() bool       { return oneOf(string(c), channels) }
func (c Channel) allowed() []string { return channels }

// InterventionAction is something the units did on scene.
type InterventionAction string

var interventionActions = []string{"separation", "arrest", "transport_to_shelter", "children_taken_in_charge", "medical_care", "weapons_seized", "advice_given"}

func (a InterventionAction) valid() bool       { return oneOf(string(a), interventionActions) }
func (a InterventionAction) allowed() []string { return interventionActions }

// PartyRole is a person's role in the case.
type PartyRole string

const (
	PartyVictim  PartyRole = "victim"
	PartySuspect PartyRole = "suspect"
	PartyChild   PartyRole = "child"
	PartyWitness PartyRole = "witness"
)

var partyRoles = []string{"victim", "suspect", "child", "witness"}

func (r PartyRole) valid() bool       { return oneOf(string(r), partyRoles) }
func (r PartyRole) allowed() []string { return partyRoles }

// Relationship is the relationship between victim and suspect, as seen from
// the party identified.
type Relationship string

var relationships = []string{"spouse", "ex_spouse", "common_law", "ex_common_law", "dating", "ex_dating", "parent", "child", "other_family", "none"}

func (r Relationship) valid() bool       { return oneOf(string(r), relationships) }
func (r Relationship) allowed() []string { return relationships }

// ContactMethod is a safe way to reach a party.
type ContactMethod string

var contactMethods = []string{"phone", "sms", "email", "in_person", "through_shelter", "through_lawyer", "letter"}

func (m ContactMethod) valid() bool       { return oneOf(string(m), contactMethods) }
func (m ContactMethod) allowed() []string { return contactMethods }

// StatementKind is the medium of a statement.
type StatementKind string

var statementKinds = []string{"written", "audio", "video", "kgb"}

func (k StatementKind) valid() bool       { return oneOf(string(k), statementKinds) }
func (k StatementKind) allowed() []string { return statementKinds }

// Clearance is the clearance status of an incident for crime statistics.
type Clearance string

var clearances = []string{"not_cleared", "cleared_by_charge", "cleared_otherwise", "unfounded"}

func (c Clearance) valid() bool       { return oneOf(string(c), clearances) }
func (c Clearance) allowed() []string { return clearances }

// Instrument is a structured risk-assessment tool.
type Instrument string

const (
	InstrumentODARA            Instrument = "odara"
	InstrumentDASH             Instrument = "dash"
	InstrumentDangerAssessment Instrument = "danger_assessment"
	InstrumentSARA             Instrument = "sara"
	InstrumentBSAFER           Instrument = "b_safer"
	InstrumentQCHomicideGrid   Instrument = "qc_homicide_grid"
)

var instruments = []string{"odara", "dash", "danger_assessment", "sara", "b_safer", "qc_homicide_grid"}

func (i Instrument) valid() bool       { return oneOf(string(i), instruments) }
func (i Instrument) allowed() []string { return instruments }

// MaxScore is the highest total score the instrument can give: ODARA has 13
// items; DASH 27 yes/no questions; the Danger Assessment's weighted 20 items
// total 38; SARA's 20 and B-SAFER's 15 items are rated 0–2; the Québec
// homicide-risk grid is kept here as its 20 factors rated 0–1.
func (i Instrument) MaxScore() int {
	switch i {
	case InstrumentODARA:
		return 13
	case InstrumentDASH:
		return 27
	case InstrumentDangerAssessment:
		return 38
	case InstrumentSARA:
		return 40
	case InstrumentBSAFER:
		return 30
	case InstrumentQCHomicideGrid:
		return 20
	}
	return 0
}

// RiskBand is the normalised risk level a case is managed at.
type RiskBand string

const (
	RiskUnknown RiskBand = ""
	RiskLow     RiskBand = "low"
	RiskMedium  RiskBand = "medium"
	RiskHigh    RiskBand = "high"
)

var riskBands = []string{"low", "medium", "high"}

func (b RiskBand) valid() bool       { return oneOf(string(b), riskBands) }
func (b RiskBand) allowed() []string { return riskBands }

// Answer is a risk-assessment item answer; unknown is a real answer, not a gap.
type Answer string

var answers = []string{"yes", "no", "unknown"}

func (a Answer) valid() bool       { return oneOf(string(a), answers) }
func (a Answer) allowed() []string { return answers }

// Informant is the source of a risk assessment's answers.
type Informant string

var informants = []string{"victim", "suspect", "police_records", "collateral", "professional"}

func (i Informant) valid() bool       { return oneOf(string(i), informants) }
func (i Informant) allowed() []string { return informants }

// RiskTrigger is why a risk level changed.
type RiskTrigger string

var riskTriggers = []string{"assessment", "new_incident", "separation", "breach", "release", "review", "correction"}

func (t RiskTrigger) valid() bool       { return oneOf(string(t), riskTriggers) }
func (t RiskTrigger) allowed() []string { return riskTriggers }

// LegalBasis is the ground for sharing information without consent.
type LegalBasis string

var legalBases = []string{"serious_risk_of_death_or_injury", "urgency", "court_order", "statutory_duty", "youth_protection_report"}

func (b LegalBasis) valid() bool       { return oneOf(string(b), legalBases) }
func (b LegalBasis) allowed() []string { return legalBases }

// ConditionKind is the instrument that imposes protection conditions.
type ConditionKind string

var conditionKinds = []string{"undertaking", "release_conditions", "probation", "peace_bond", "civil_order", "electronic_bracelet"}

func (k ConditionKind) valid() bool       { return oneOf(string(k), conditionKinds) }
func (k ConditionKind) allowed() []string { return conditionKinds }

// BreachSource is who reported a breach.
type BreachSource string

var breachSources = []string{"victim", "bracelet_alert", "patrol", "third_party", "probation_officer"}

func (s BreachSource) valid() bool       { return oneOf(string(s), breachSources) }
func (s BreachSource) allowed() []string { return breachSources }

// BreachAction is what was done about a breach.
type BreachAction string

var breachActions = []string{"arrest", "warrant_requested", "warning", "report_to_prosecutor", "no_action"}

func (a BreachAction) valid() bool       { return oneOf(string(a), breachActions) }
func (a BreachAction) allowed() []string { return breachActions }

// NotificationEvent is what a victim is notified about.
type NotificationEvent string

var notificationEvents = []string{"court_date", "release", "temporary_absence", "parole", "escape", "conditions_changed"}

func (e NotificationEvent) valid() bool       { return oneOf(string(e), notificationEvents) }
func (e NotificationEvent) allowed() []string { return notificationEvents }

// Destination is the kind of service a referral goes to.
type Destination string

var destinations = []string{"shelter", "cavac", "aggressor_programme", "health_social_services", "youth_protection", "helpline", "legal_aid"}

func (d Destination) valid() bool       { return oneOf(string(d), destinations) }
func (d Destination) allowed() []string { return destinations }

// FollowUpKind is how a follow-up is made.
type FollowUpKind string

var followUpKinds = []string{"call", "visit", "court_accompaniment", "text", "meeting"}

func (k FollowUpKind) valid() bool       { return oneOf(string(k), followUpKinds) }
func (k FollowUpKind) allowed() []string { return followUpKinds }

// AttemptOutcome is why a follow-up attempt did not complete it.
type AttemptOutcome string

var attemptOutcomes = []string{"no_answer", "unsafe_to_talk", "wrong_number", "left_message", "refused"}

func (o AttemptOutcome) valid() bool       { return oneOf(string(o), attemptOutcomes) }
func (o AttemptOutcome) allowed() []string { return attemptOutcomes }

// Module is the side of the case a file follows.
type Module string

var modules = []string{"victim_support", "aggressor_support", "joint"}

func (m Module) valid() bool       { return oneOf(string(m), modules) }
func (m Module) allowed() []string { return modules }

// LinkReason is why two cases are linked.
type LinkReason string

var linkReasons = []string{"same_couple", "same_victim", "same_suspect", "same_household", "related_incident"}

func (r LinkReason) valid() bool       { return oneOf(string(r), linkReasons) }
func (r LinkReason) allowed() []string { return linkReasons }

// FlagKind is a kind of warning flag on a case.
type FlagKind string

var flagKinds = []string{"weapons", "children_at_risk", "officer_safety", "language_barrier", "immigration_vulnerability", "strangulation_history", "other"}

func (k FlagKind) valid() bool       { return oneOf(string(k), flagKinds) }
func (k FlagKind) allowed() []string { return flagKinds }

// ClosureReason is why a case is closed.
type ClosureReason string

var closureReasons = []string{"risk_reduced", "services_completed", "client_request", "moved_away", "no_contact_possible", "transferred_out", "deceased", "other"}

func (r ClosureReason) valid() bool       { return oneOf(string(r), closureReasons) }
func (r ClosureReason) allowed() []string { return closureReasons }

// ReopenTrigger is why a closed case is reopened.
type ReopenTrigger string

var reopenTriggers = []string{"new_incident", "breach", "client_request", "closed_in_error", "court_order"}

func (t ReopenTrigger) valid() bool       { return oneOf(string(t), reopenTriggers) }
func (t ReopenTrigger) allowed() []string { return reopenTriggers }

// ConsentScope is what a consent covers.
type ConsentScope string

const (
	ConsentServices   ConsentScope = "services"
	ConsentSharing    ConsentScope = "sharing"
	ConsentStatistics ConsentScope = "statistics"
)

var consentScopes = []string{"services", "sharing", "statistics"}

func (s ConsentScope) valid() bool       { return oneOf(string(s), consentScopes) }
func (s ConsentScope) allowed() []string { return consentScopes }

// ConsentMethod is how consent was given.
type ConsentMethod string

var consentMethods = []string{"verbal", "written", "electronic"}

func (m ConsentMethod) valid() bool       { return oneOf(string(m), consentMethods) }
func (m ConsentMethod) allowed() []string { return consentMethods }

// HoldScope is what a legal hold covers.
type HoldScope string

var holdScopes = []string{"entire_case", "evidence", "notes"}

func (s HoldScope) valid() bool       { return oneOf(string(s), holdScopes) }
func (s HoldScope) allowed() []string { return holdScopes }

// Recipient is who receives a disclosure.
type Recipient string

var recipients = []string{"prosecutor", "defence", "court", "coroner", "privacy_commissioner"}

func (r Recipient) valid() bool       { return oneOf(string(r), recipients) }
func (r Recipient) allowed() []string { return recipients }

// allowedList renders an enum's values for an error message.
func allowedList(e enum) string { return "must be one of " + strings.Join(e.allowed(), ", ") }
