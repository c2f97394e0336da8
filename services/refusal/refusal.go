// Package refusal maps the reasons caseledger refuses a command to the
// codes emitters and HTTP clients see, once, for every edge (NATS ingest,
// the HTTP API, the published schemas). A refusal carries a code, the field
// at fault and a fixed reason; never a value from the command.
package refusal

import (
	"errors"
	"net/http"

	"github.com/caseledger/caseledger/domain"
)

// Codes given before the domain sees a command.
const (
	TooLarge        = "too_large"
	BadSubject      = "bad_subject"
	Unauthenticated = "unauthenticated"
	// StoreUnavailable is not a refusal: the record cannot be written now,
	// the command is kept in INTAKE and will be answered again once it is
	// recorded (the outcome says retrying).
	StoreUnavailable = "store_unavailable"
)

var table = []struct {
	err    error
	code   string
	status int
}{
	{domain.ErrMalformed, "malformed", http.StatusBadRequest},
	{domain.ErrUnknownCommand, "unknown_command", http.StatusBadRequest},
	{domain.ErrInvalidField, "invalid_field", http.StatusBadRequest},
	{domain.ErrCaseNotFound, "case_not_found", http.StatusNotFound},
	{domain.ErrCaseExists, "case_exists", http.StatusConflict},
	{domain.ErrCaseMismatch, "case_mismatch", http.StatusBadRequest},
	{domain.ErrCaseClosed, "case_closed", http.StatusConflict},
	{domain.ErrCaseNotClosed, "case_not_closed", http.StatusConflict},
	{domain.ErrRoleNotAllowed, "role_not_allowed", http.StatusForbidden},
	{domain.ErrNotAddressee, "not_addressee", http.StatusForbidden},
	{domain.ErrUnknownParty, "unknown_party", http.StatusUnprocessableEntity},
	{domain.ErrDuplicate, "duplicate", http.StatusConflict},
	{domain.ErrNotFound, "not_found", http.StatusUnprocessableEntity},
	{domain.ErrInvalidTransition, "invalid_transition", http.StatusConflict},
	{domain.ErrNoConsent, "no_consent", http.StatusUnprocessableEntity},
	{domain.ErrApprovalRequired, "approval_required", http.StatusUnprocessableEntity},
	{domain.ErrOpenItems, "open_items", http.StatusUnprocessableEntity},
	{domain.ErrUnknownEntry, "unknown_entry", http.StatusUnprocessableEntity},
	{domain.ErrCompartmentWidened, "compartment_widened", http.StatusUnprocessableEntity},
	{domain.ErrNoChange, "no_change", http.StatusConflict},
	{domain.ErrNotHighRisk, "not_high_risk", http.StatusUnprocessableEntity},
	{domain.ErrCustodyMismatch, "custody_mismatch", http.StatusUnprocessableEntity},
	{domain.ErrLegalHold, "legal_hold", http.StatusUnprocessableEntity},
	{domain.ErrOrderRequired, "order_required", http.StatusUnprocessableEntity},
	{domain.ErrUnknownEventType, "unknown_event_type", http.StatusBadRequest},
	{domain.ErrConflictingDuplicate, "conflicting_duplicate", http.StatusConflict},
}

// Codes lists every refusal code, in a stable order.
func Codes() []string {
	out := make([]string, 0, len(table)+3)
	for _, t := range table {
		out = append(out, t.code)
	}
	return append(out, TooLarge, BadSubject, Unauthenticated)
}

// Describe returns a refusal's code, field and reason; ok is false for an
// error that is not the command's fault (the store away), which is retried,
// never refused.
func Describe(err error) (code, field, reason string, ok bool) {
	for _, t := range table {
		if errors.Is(err, t.err) {
			reason = t.err.Error()
			var fe *domain.FieldError
			if errors.As(err, &fe) {
				field = fe.Field
				if fe.Reason != "" {
					reason = fe.Reason
				}
			}
			return t.code, field, reason, true
		}
	}
	return "", "", "", false
}

// HTTPStatus is the status a refusal code answers with: 400 for input that
// is not a valid command, 403 for a role, 404 for a case that does not
// exist, 409 for a conflict with the case's current state, 422 for a rule.
func HTTPStatus(code string) int {
	for _, t := range table {
		if t.code == code {
			return t.status
		}
	}
	switch code {
	case TooLarge:
		return http.StatusRequestEntityTooLarge
	case Unauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}
