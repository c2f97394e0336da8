package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/refusal"
	"github.com/google/uuid"
)

// The API's one error edge: fail maps every error a handler meets (a
// refused command, an unknown case, a bad cursor, a bundle not yet
// provable, the record or the read models away, a bug) to one Problem
// Details answer, in the table below, and logs only what is not the
// caller's doing, with the request id the answer carries. Errors hold ids
// and codes, never case data (see domain and casefile), so they may be
// logged.

// edge is one row: an error, the status and code it answers with, and the
// detail shown (the error's own text when empty).
type edge struct {
	err    error
	status int
	code   string
	detail string
}

var edges = []edge{
	{projections.ErrNoCase, http.StatusNotFound, "case_not_found", "no case with this id"},
	{disclosure.ErrUnknownCase, http.StatusNotFound, "case_not_found", "no case with this id"},
	{projections.ErrBadCursor, http.StatusBadRequest, "invalid_page", "after must be the cursor a previous page gave, with the same filters"},
	{casefile.ErrBeforeCase, http.StatusUnprocessableEntity, "before_case", "the case had no entry yet at that point"},
	{disclosure.ErrNotCovered, http.StatusConflict, "not_yet_checkpointed", "the case's last events are not under a signed checkpoint yet; try again after the next one"},
	{disclosure.ErrRefused, http.StatusForbidden, "forbidden", ""},
	{disclosure.ErrNoSigner, http.StatusServiceUnavailable, "seal_key_unavailable", "this server does not hold the ledger's signing key that seals a bundle; export where the ledger runs, or give the API the key (--ledger-key)"},
	{errStore, http.StatusServiceUnavailable, "store_unavailable", "the record could not be read or written; nothing was done, try again"},
	{errReadModels, http.StatusServiceUnavailable, "readmodels_unavailable", "the read models could not be read; try again"},
	{errAccessLog, http.StatusServiceUnavailable, "access_log_unavailable", "the access record could not be written; nothing was read"},
	{errLedger, http.StatusServiceUnavailable, "ledger_unavailable", "the Merkle log could not prove the bundle; try again"},
	{errKeys, http.StatusServiceUnavailable, "keys_unavailable", "the personal data could not be decrypted (the key store is unavailable, or a value does not open under its key); nothing was shown"},
}

// Conditions of the API's own, wrapped around the cause with %w.
var (
	errStore      = errors.New("api: the record is unavailable")
	errReadModels = errors.New("api: the read models are unavailable")
	errAccessLog  = errors.New("api: the access log is unavailable")
	errLedger     = errors.New("api: the ledger is unavailable")
	errKeys       = errors.New("api: the personal data keys are unavailable")
)

// during wraps a cause as one of the API's conditions, keeping both.
func during(condition, cause error) error { return errors.Join(condition, cause) }

type requestIDKey struct{}

// withRequestID gives every request an id, answered in Request-Id and in
// the body of an internal error, and logged beside it.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.NewV7()
		if err != nil {
			id = uuid.New()
		}
		w.Header().Set("Request-Id", id.String())
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id.String())))
	})
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// fail answers err: a refused command with its refusal code and field, a
// condition of the table with its row, anything else as an internal error,
// logged at ERROR. Unavailability is logged at WARN: it is not the
// caller's fault, and it is not a bug either.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if code, field, reason, ok := refusal.Describe(err); ok {
		status := refusal.HTTPStatus(code)
		writeProblem(w, status, map[string]any{"code": code, "field": field, "detail": reason, "command": r.PathValue("name")})
		return
	}
	for _, e := range edges {
		if errors.Is(err, e.err) {
			detail := e.detail
			if detail == "" {
				detail = err.Error()
			}
			if e.status >= 500 {
				s.log.LogAttrs(r.Context(), slog.LevelWarn, "unavailable", slog.String("request_id", requestID(r)),
					slog.String("route", r.Pattern), slog.String("code", e.code), slog.String("error", err.Error()))
			}
			writeProblem(w, e.status, map[string]any{"code": e.code, "detail": detail, "request_id": requestID(r)})
			return
		}
	}
	s.log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("request_id", requestID(r)),
		slog.String("route", r.Pattern), slog.String("error", err.Error()))
	writeProblem(w, http.StatusInternalServerError, map[string]any{"code": "internal", "detail": "an internal error; it was logged with this request id", "request_id": requestID(r)})
}

// problem answers a request the API itself finds wrong (a parameter, a
// role): an RFC 9457 problem body with a code and a detail.
func problem(w http.ResponseWriter, status int, code, detail string) {
	writeProblem(w, status, map[string]any{"code": code, "detail": detail})
}

func writeProblem(w http.ResponseWriter, status int, body map[string]any) {
	body["type"] = "https://caseledger.invalid/problems/" + body["code"].(string)
	body["title"], body["status"] = http.StatusText(status), status
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
