package ingest

import (
	"errors"

	"github.com/caseledger/caseledger/domain"
)

// codes maps every refusal the domain can give to the code emitters see on
// a rejection. It is the one place errors become codes on NATS.
var codes = []struct {
	err  error
	code string
}{
	{domain.ErrMalformed, "malformed"},
	{domain.ErrUnknownCommand, "unknown_command"},
	{domain.ErrInvalidField, "invalid_field"},
	{domain.ErrCaseNotFound, "case_not_found"},
	{domain.ErrCaseExists, "case_exists"},
	{domain.ErrCaseMismatch, "case_mismatch"},
	{domain.ErrCaseClosed, "case_closed"},
	{domain.ErrCaseNotClosed, "case_not_closed"},
	{domain.ErrRoleNotAllowed, "role_not_allowed"},
	{domain.ErrNotAddressee, "not_addressee"},
	{domain.ErrUnknownParty, "unknown_party"},
	{domain.ErrDuplicate, "duplicate"},
	{domain.ErrNotFound, "not_found"},
	{domain.ErrInvalidTransition, "invalid_transition"},
	{domain.ErrNoConsent, "no_consent"},
	{domain.ErrApprovalRequired, "approval_required"},
	{domain.ErrOpenItems, "open_items"},
	{domain.ErrUnknownEntry, "unknown_entry"},
	{domain.ErrCompartmentWidened, "compartment_widened"},
	{domain.ErrNoChange, "no_change"},
	{domain.ErrNotHighRisk, "not_high_risk"},
	{domain.ErrCustodyMismatch, "custody_mismatch"},
	{domain.ErrLegalHold, "legal_hold"},
	{domain.ErrOrderRequired, "order_required"},
	{domain.ErrUnknownEventType, "unknown_event_type"},
}

// Codes of refusals ingest gives before the domain sees a command.
const (
	codeTooLarge        = "too_large"
	codeSubject         = "bad_subject"
	codeUnauthenticated = "unauthenticated"
)

// rejection describes a refusal: its code, the field and the reason. ok is
// false for errors that are not the command's fault (the store is down):
// those are retried, never rejected.
func rejection(err error) (code, field, reason string, ok bool) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			code = c.code
			reason = c.err.Error()
			var fe *domain.FieldError
			if errors.As(err, &fe) {
				field = fe.Field
				if fe.Reason != "" {
					reason = fe.Reason
				}
			}
			return code, field, reason, true
		}
	}
	return "", "", "", false
}
