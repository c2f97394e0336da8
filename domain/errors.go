package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by Decide and by the codec. Each names a rule or a
// kind of bad input; callers compare with errors.Is. Most are wrapped in a
// *FieldError that names the offending field, so that an emitter can point at
// the exact place in its message. No error ever carries a field's value: values
// may be personal data.
var (
	// ErrInvalidField is returned when a field is missing, malformed, out of
	// range or not one of its allowed values.
	ErrInvalidField = errors.New("domain: invalid field")

	// ErrUnknownCommand is returned for a command name or Go type that the
	// catalogue does not define.
	ErrUnknownCommand = errors.New("domain: unknown command")

	// ErrUnknownEventType is returned when decoding an event whose type string is
	// not in the registry, or whose schema version is newer than this build knows.
	ErrUnknownEventType = errors.New("domain: unknown event type")

	// ErrMalformed is returned when bytes are not a JSON document of the expected
	// shape (syntax error, unknown field, wrong JSON type).
	ErrMalformed = errors.New("domain: malformed input")

	// ErrCaseNotFound is returned for any command but OpenCase on a case that
	// was never opened.
	ErrCaseNotFound = errors.New("domain: case not opened")

	// ErrCaseExists is returned by OpenCase on a case that is already open.
	ErrCaseExists = errors.New("domain: case already opened")

	// ErrCaseMismatch is returned when a command's case_id is not the case it
	// is decided against.
	ErrCaseMismatch = errors.New("domain: command addressed to another case")

	// ErrCaseClosed is returned for a command that may not run on a closed
	// case: only reopening, notes, corrections, disclosure, production orders
	// and legal holds may.
	ErrCaseClosed = errors.New("domain: case is closed")

	// ErrCaseNotClosed is returned by ReopenCase on a case that is open.
	ErrCaseNotClosed = errors.New("domain: case is not closed")

	// ErrRoleNotAllowed is returned when the actor's role may not issue the
	// command (an auditor writing, a partner acting outside its referrals).
	ErrRoleNotAllowed = errors.New("domain: role may not issue this command")

	// ErrNotAddressee is returned when a partner agency answers a referral
	// that was not addressed to it.
	ErrNotAddressee = errors.New("domain: referral not addressed to this agency")

	// ErrUnknownParty is returned when a command names a party that was never
	// identified on the case.
	ErrUnknownParty = errors.New("domain: unknown party")

	// ErrDuplicate is returned when a command creates something (a party, a
	// referral, a follow-up, a condition…) under an id that already exists on
	// the case, or identifies the same person twice.
	ErrDuplicate = errors.New("domain: already exists")

	// ErrNotFound is returned when a command names a referral, follow-up,
	// condition, breach, consent, flag, hold, plan, transfer or piece of
	// evidence that does not exist on the case.
	ErrNotFound = errors.New("domain: not found on this case")

	// ErrInvalidTransition is returned when a referral, follow-up, condition,
	// transfer, closure or rapid-response transition is not allowed from the
	// current status (accept what was not sent, complete twice…).
	ErrInvalidTransition = errors.New("domain: transition not allowed from current status")

	// ErrNoConsent is returned by SendReferral when the party has no active
	// consent to sharing with the destination and the command carries no
	// information-sharing-without-consent decision with its authoriser.
	ErrNoConsent = errors.New("domain: no consent for this destination")

	// ErrApprovalRequired is returned by CloseCase on a high-risk case whose
	// closure a supervisor has not approved.
	ErrApprovalRequired = errors.New("domain: closure of a high-risk case needs a supervisor's approval")

	// ErrOpenItems is returned by CloseCase while conditions are active or
	// follow-ups are open and the closure gives no justification.
	ErrOpenItems = errors.New("domain: active conditions or open follow-ups, and no justification given")

	// ErrUnknownEntry is returned when a correction, redaction or marking in
	// error targets an event that is not in this case.
	ErrUnknownEntry = errors.New("domain: target entry not in this case")

	// ErrCompartmentWidened is returned when a command would make an entry
	// visible to more people than its compartment allows (a social-work
	// entry reclassified as police, a sealed entry made shared…).
	ErrCompartmentWidened = errors.New("domain: compartment may not be widened")

	// ErrNoChange is returned when a command would record nothing new (a risk
	// change to the current band, an assignment to the current assignee).
	ErrNoChange = errors.New("domain: nothing would change")

	// ErrNotHighRisk is returned by EscalateHighRisk on a case whose current
	// risk band is not high.
	ErrNotHighRisk = errors.New("domain: case is not high risk")

	// ErrCustodyMismatch is returned by TransferEvidence when the custodian
	// handing over is not the current custodian.
	ErrCustodyMismatch = errors.New("domain: custodian is not the current custodian")

	// ErrLegalHold is returned when a command would end something a legal
	// hold protects (closing a case under an entire-case hold is allowed;
	// redacting an entry under hold is not).
	ErrLegalHold = errors.New("domain: blocked by a legal hold")

	// ErrOrderRequired is returned when a disclosure includes sealed entries
	// and names no production order recorded on the case.
	ErrOrderRequired = errors.New("domain: sealed entries are disclosed only under a recorded court order")

	// ErrConflictingDuplicate is returned when a command's id was already
	// recorded with another command: a retry must carry the same body; a
	// new command needs a new id. What was recorded stays as it is.
	ErrConflictingDuplicate = errors.New("domain: this command id was recorded with another command")
)

// ConflictingDuplicate is the refusal of a command whose id was recorded
// with another body.
func ConflictingDuplicate() error {
	return fieldErr(ErrConflictingDuplicate, "command_id", "already recorded with another body: a retry must be the same command, a new command needs a new id")
}

// FieldError says which field of a command or event is wrong and why. It
// wraps one of the sentinel errors above. Field is a JSON path such as
// "parties[1].role" or "occurred_at"; Reason is fixed text and never
// contains the value.
type FieldError struct {
	Field  string
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%v: field %s", e.Err, e.Field)
	}
	return fmt.Sprintf("%v: field %s: %s", e.Err, e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr builds a *FieldError wrapping err.
func fieldErr(err error, field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: err}
}

// invalid builds a *FieldError wrapping ErrInvalidField.
func invalid(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrInvalidField}
}
