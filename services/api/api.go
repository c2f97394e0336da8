// Package api is caseledger's HTTP interface (first step): bearer-token
// authentication with static tokens, roles and compartments enforced in the
// read path itself, and an access record appended before every read of case
// data, failing closed when it cannot be written.
//
// Errors are Problem Details (RFC 9457) that carry codes and ids, never case
// data. It never logs request bodies.
package api

import (
	"context"
	"crypto/subtle"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/refusal"
	"github.com/google/uuid"
)

// Principal is who is calling: the user, their role and agency.
type Principal = domain.Actor

// Tokens maps static bearer tokens to principals (a single node's
// configuration; OIDC comes later).
type Tokens struct {
	byToken map[string]Principal
}

type tokenEntry struct {
	Token string `json:"token"`
	domain.Actor
}

// LoadTokens reads a JSON list of {token, user_id, role, agency}.
func LoadTokens(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api: tokens file: %w", err)
	}
	var entries []tokenEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("api: tokens file %s is not a JSON list of {token, user_id, role, agency}", path)
	}
	t := &Tokens{byToken: map[string]Principal{}}
	var errs []error
	for i, e := range entries {
		switch {
		case len(e.Token) < 24:
			errs = append(errs, fmt.Errorf("entry %d: token shorter than 24 characters", i))
		case e.UserID == "" || e.Agency == "":
			errs = append(errs, fmt.Errorf("entry %d: user_id and agency are required", i))
		case !validRole(e.Role):
			errs = append(errs, fmt.Errorf("entry %d: role is not one of officer, investigator, social_worker, supervisor, auditor, partner, admin", i))
		default:
			t.byToken[e.Token] = e.Actor
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("api: tokens file %s: %w", path, errors.Join(errs...))
	}
	return t, nil
}

func validRole(r domain.Role) bool {
	switch r {
	case domain.RoleOfficer, domain.RoleInvestigator, domain.RoleSocialWorker, domain.RoleSupervisor, domain.RoleAuditor, domain.RolePartner, domain.RoleAdmin:
		return true
	}
	return false
}

// NewTokens builds a token table in memory (tests, embedded setups).
func NewTokens(m map[string]Principal) *Tokens { return &Tokens{byToken: m} }

func (t *Tokens) authenticate(r *http.Request) (Principal, bool) {
	if t == nil {
		return Principal{}, false
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return Principal{}, false
	}
	for known, p := range t.byToken {
		if subtle.ConstantTimeCompare([]byte(known), []byte(tok)) == 1 {
			return p, true
		}
	}
	return Principal{}, false
}

// Visible returns the compartments a role may read on a case. Police roles
// never see social-work entries, social workers never see police ones;
// sealed entries are added only under a production order recorded on the
// case (see caseRead).
func Visible(role domain.Role) []domain.Compartment {
	switch role {
	case domain.RoleOfficer, domain.RoleInvestigator:
		return []domain.Compartment{domain.CompartmentPolice, domain.CompartmentShared}
	case domain.RoleSocialWorker:
		return []domain.Compartment{domain.CompartmentSocialWork, domain.CompartmentShared}
	case domain.RoleSupervisor, domain.RoleAuditor:
		return []domain.Compartment{domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared}
	}
	return nil // partners and admins read no case file here
}

// Server serves the API.
type Server struct {
	db     *sql.DB
	store  eventstore.Store
	tokens *Tokens
	oidc   *OIDC
	rule   projections.ContactRule
	ledger *Ledger
	// AccessWritten and AccessFailed count access records appended and
	// those that could not be (each failing its read closed).
	AccessWritten, AccessFailed atomic.Int64
	now                         func() time.Time
	mux                         *http.ServeMux
}

// New returns the API over a read-model database and the record.
func New(db *sql.DB, store eventstore.Store, tokens *Tokens, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{db: db, store: store, tokens: tokens, rule: projections.DefaultContactRule(), now: now, mux: http.NewServeMux()}
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.Method+" "+rt.Pattern, s.auth(rt.handle))
	}
	// The dashboard page is static: it reads the API with the caller's
	// token, so it needs no build step and holds no data itself.
	s.mux.HandleFunc("GET /dashboard", page(dashboardPage))
	s.mux.HandleFunc("GET /cases/{id}", page(casePage))
	return s
}

var (
	//go:embed web/dashboard.html
	dashboardPage []byte
	//go:embed web/case.html
	casePage []byte
)

// page serves a static page; the pages read the API with the caller's
// token and hold no data themselves.
func page(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(body)
	}
}

// Route is one endpoint; docs/openapi.json describes each, and a test keeps
// the two in step.
type Route struct {
	Method, Pattern string
	handle          func(http.ResponseWriter, *http.Request, Principal)
}

func (s *Server) routes() []Route {
	return []Route{
		{"GET", "/v1/cases/{id}", s.getCase},
		{"GET", "/v1/cases/{id}/timeline", s.getTimeline},
		{"GET", "/v1/cases/{id}/entries/{event}", s.getEntry},
		{"GET", "/v1/cases/{id}/replay", s.getReplay},
		{"GET", "/v1/cases/{id}/export", s.getExport},
		{"POST", "/v1/cases/{id}/commands/{name}", s.postCommand},
		{"GET", "/v1/referrals", s.getReferrals},
		{"GET", "/v1/people/{person}/cases", s.getPersonCases},
		{"GET", "/v1/worklist", s.getWorklist},
		{"GET", "/v1/dashboard", s.getDashboard},
	}
}

// Routes lists the API's endpoints (method and pattern).
func Routes() []Route {
	var s Server
	return s.routes()
}

// maxCommand bounds a command's body, as ingest does on NATS.
const maxCommand = 256 << 10

// postCommand decides a command through the same path as NATS intake
// (casefile.Execute: load, decide, append with the expected version, absorb
// a redelivery) and answers with the same outcome, or the same refusal
// mapped to an HTTP status. The command's actor must be the caller.
func (s *Server) postCommand(w http.ResponseWriter, r *http.Request, p Principal) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, "invalid_case_id", "the case id is not a uuid")
		return
	}
	name := r.PathValue("name")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCommand))
	if err != nil {
		problem(w, refusal.HTTPStatus(refusal.TooLarge), refusal.TooLarge, fmt.Sprintf("a command is at most %d bytes", maxCommand))
		return
	}
	cmd, err := domain.DecodeCommand(name, body)
	if err != nil {
		s.refuse(w, name, err)
		return
	}
	h := cmd.Head()
	switch {
	case h.CaseID != id:
		problem(w, http.StatusBadRequest, "case_mismatch", "the body's case_id is not the case in the path")
		return
	case h.Actor != p:
		problem(w, http.StatusForbidden, "actor_mismatch", "the command's actor must be the authenticated caller")
		return
	}
	res, events, err := casefile.Execute(r.Context(), s.store, cmd, s.now, 10)
	if err != nil {
		s.refuse(w, name, err)
		return
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID.String()
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(natsbus.Outcome{Accepted: true, Command: name, CommandID: h.CommandID.String(), CaseID: id.String(),
		Stream: res.Stream, FirstVersion: res.FirstVersion, LastVersion: res.LastVersion, EventIDs: ids, Duplicate: res.Duplicate})
}

// refuse answers a refused command with its code, field and reason.
func (s *Server) refuse(w http.ResponseWriter, name string, err error) {
	code, field, reason, ok := refusal.Describe(err)
	if !ok {
		problem(w, http.StatusServiceUnavailable, "unavailable", "the record could not be written; try again")
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	status := refusal.HTTPStatus(code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "https://caseledger.invalid/problems/" + code, "title": http.StatusText(status), "status": status,
		"code": code, "field": field, "detail": reason, "command": name,
	})
}

// WithContactRule judges first victim contacts by rule instead of the
// default two working days.
func (s *Server) WithContactRule(rule projections.ContactRule) *Server {
	s.rule = rule
	return s
}

// WithOIDC also accepts JWTs from an OpenID Connect provider.
func (s *Server) WithOIDC(o *OIDC) *Server {
	s.oidc = o
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// problem writes an RFC 9457 problem body: a code, a title, the status.
func problem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "https://caseledger.invalid/problems/" + code, "title": http.StatusText(status),
		"status": status, "code": code, "detail": detail,
	})
}

func (s *Server) auth(h func(http.ResponseWriter, *http.Request, Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.tokens.authenticate(r)
		if !ok && s.oidc != nil {
			if tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
				var err error
				p, err = s.oidc.Verify(r.Context(), tok)
				ok = err == nil
			}
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="caseledger"`)
			problem(w, http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required")
			return
		}
		h(w, r, p)
	}
}

// purpose is why the caller reads: required on every read of case data, so
// the access record says it.
func purpose(r *http.Request) (string, bool) {
	p := strings.TrimSpace(r.URL.Query().Get("purpose"))
	return p, p != "" && len(p) <= 256
}

// recordAccess appends who read which sections of a case, under which order,
// and why it was denied (reason is empty when it was not), to the day's
// access stream, before anything is read.
func (s *Server) recordAccess(ctx context.Context, p Principal, caseID uuid.UUID, why string, sections []string, order uuid.UUID, reason string) error {
	now := s.now().UTC()
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	e := domain.Event{ID: id, CaseID: caseID, Meta: domain.Meta{Actor: p, OccurredAt: now, RecordedAt: now, SourceSystem: "api", Compartment: domain.CompartmentShared},
		Data: domain.RecordViewed{CaseID: caseID, Purpose: why, Sections: sections, Denied: reason != "", Reason: reason, OrderID: order}}
	typ, data, meta, err := domain.EncodeStored(e)
	if err != nil {
		return err
	}
	_, err = s.store.Append(ctx, "access-"+now.Format("2006-01-02"), eventstore.Any, []eventstore.EventData{{ID: id, Type: typ, Data: data, Metadata: meta}})
	if err != nil {
		s.AccessFailed.Add(1)
		return err
	}
	s.AccessWritten.Add(1)
	return nil
}

// caseAccess is what a read of one case was allowed: the case, the
// compartments it may show, and the production order invoked, if any.
type caseAccess struct {
	id    uuid.UUID
	vis   []domain.Compartment
	order uuid.UUID
	// The case as loaded from the record to check the order, if it was:
	// a read that needs the record too uses it rather than loading again.
	state domain.State
	recs  []eventstore.Record
}

// gate is a check a read makes on the record before its access record is
// written: a non-empty reason denies the read.
type gate func(ctx context.Context, a caseAccess) (reason string, err error)

// orderStanding says why a production order does not open the case's
// sealed entries to p, or "" when it does: it must be recorded on this very
// case, not be marked in error, and have been recorded by someone else than
// the reader, so that no one opens sealed entries on their own word.
func orderStanding(st domain.State, recs []eventstore.Record, order uuid.UUID, p Principal) string {
	if st.Orders[order].OrderID == uuid.Nil {
		return "no production order with this id is recorded on the case"
	}
	for _, r := range recs {
		if r.Type != "case.production_order_received" {
			continue
		}
		e, err := casefile.Decode(r)
		if err != nil {
			return "the order's entry cannot be read"
		}
		if d, ok := e.Data.(domain.ProductionOrderReceived); ok && d.OrderID == order {
			switch {
			case st.Entries[e.ID].InError:
				return "the production order is marked in error"
			case e.Meta.Actor.UserID == p.UserID:
				return "a production order opens sealed entries only to others than the one who recorded it"
			}
			return ""
		}
	}
	return "no production order with this id is recorded on the case"
}

// orderRoles may invoke a recorded production order to open sealed entries.
func orderRole(r domain.Role) bool {
	return r == domain.RoleInvestigator || r == domain.RoleSupervisor || r == domain.RoleAuditor
}

// caseRead does what every read of one case does first: parse the id,
// require a purpose, check the role and any production order, run the
// read's own gate, and record the access (also when denied); it reports
// false when it has answered. params are the query parameters the read
// takes besides purpose and order.
func (s *Server) caseRead(w http.ResponseWriter, r *http.Request, p Principal, section string, g gate, params ...string) (caseAccess, bool) {
	var a caseAccess
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, "invalid_case_id", "the case id is not a uuid")
		return a, false
	}
	a.id = id
	for k := range r.URL.Query() {
		if k != "purpose" && k != "order" && !slices.Contains(params, k) {
			problem(w, http.StatusBadRequest, "unknown_parameter", "unknown query parameter: "+k)
			return a, false
		}
	}
	why, ok := purpose(r)
	if !ok {
		problem(w, http.StatusBadRequest, "purpose_required", "say why you read this case: ?purpose=… (at most 256 characters)")
		return a, false
	}
	if o := r.URL.Query().Get("order"); o != "" {
		if a.order, err = uuid.Parse(o); err != nil {
			problem(w, http.StatusBadRequest, "invalid_order_id", "the order id is not a uuid")
			return a, false
		}
	}
	a.vis = Visible(p.Role)
	reason := ""
	switch {
	case len(a.vis) == 0:
		reason = "role may not read case files"
	case a.order != uuid.Nil && !orderRole(p.Role):
		reason = "role may not invoke a production order"
	case a.order != uuid.Nil:
		// The order must be recorded on this very case; the record, not
		// the read model, says so.
		if a.state, a.recs, err = casefile.Load(r.Context(), s.store, id); err != nil {
			problem(w, http.StatusServiceUnavailable, "store_unavailable", "the record could not be read; nothing was read")
			return a, false
		}
		if reason = orderStanding(a.state, a.recs, a.order, p); reason == "" {
			a.vis = append(a.vis, domain.CompartmentSealed)
		}
	}
	if reason == "" && g != nil {
		if reason, err = g(r.Context(), a); err != nil {
			problem(w, http.StatusServiceUnavailable, "store_unavailable", "the record could not be read; nothing was read")
			return a, false
		}
	}
	if err := s.recordAccess(r.Context(), p, id, why, []string{section}, a.order, reason); err != nil {
		// Fail closed: no read without its access record.
		problem(w, http.StatusServiceUnavailable, "access_log_unavailable", "the access record could not be written; nothing was read")
		return a, false
	}
	if reason != "" {
		problem(w, http.StatusForbidden, "forbidden", reason)
		return a, false
	}
	return a, true
}

// getCase returns the case's current state: status, assignment, risk,
// counts, and its parties, risk history, referrals, open follow-ups and
// conditions, consents, flags and legal holds, each list limited in the
// query itself to the compartments the role may see.
func (s *Server) getCase(w http.ResponseWriter, r *http.Request, p Principal) {
	a, ok := s.caseRead(w, r, p, "case", nil)
	if !ok {
		return
	}
	id := a.id
	var c struct {
		CaseID           string           `json:"case_id"`
		Status           string           `json:"status"`
		Module           string           `json:"module"`
		Agency           string           `json:"agency"`
		Assignee         string           `json:"assignee"`
		Risk             string           `json:"risk"`
		OpenedAt         string           `json:"opened_at"`
		ClosedAt         string           `json:"closed_at,omitempty"`
		Version          int64            `json:"version"`
		Parties          int              `json:"parties"`
		OpenReferrals    int              `json:"open_referrals"`
		OpenFollowUps    int              `json:"open_follow_ups"`
		ActiveConditions int              `json:"active_conditions"`
		UnmetContacts    int              `json:"unmet_contacts"`  // victim contacts owed and not planned in time
		MissedContacts   int              `json:"missed_contacts"` // of those, past due
		PartyList        []map[string]any `json:"party_list"`
		RiskHistory      []map[string]any `json:"risk_history"`
		Referrals        []map[string]any `json:"referrals"`
		FollowUps        []map[string]any `json:"follow_ups"` // open, by due date, overdue first
		Items            []map[string]any `json:"items"`      // conditions, consents, flags, legal holds
	}
	err := s.db.QueryRowContext(r.Context(), `SELECT case_id, status, module, agency, assignee, risk, opened_at, closed_at, version, parties, open_referrals, open_follow_ups, active_conditions FROM cases WHERE case_id = $1`, id.String()).
		Scan(&c.CaseID, &c.Status, &c.Module, &c.Agency, &c.Assignee, &c.Risk, &c.OpenedAt, &c.ClosedAt, &c.Version, &c.Parties, &c.OpenReferrals, &c.OpenFollowUps, &c.ActiveConditions)
	if errors.Is(err, sql.ErrNoRows) {
		problem(w, http.StatusNotFound, "case_not_found", "no case with this id")
		return
	}
	if err == nil {
		c.UnmetContacts, c.MissedContacts, err = projections.CaseContacts(r.Context(), s.db, c.CaseID, s.rule, s.now())
	}
	in, args := compartmentsIn(a.vis, id.String())
	for _, l := range []struct {
		into *[]map[string]any
		q    string
	}{
		{&c.PartyList, `SELECT party_id, person_id, role, compartment FROM parties WHERE case_id = $1 AND compartment IN ` + in + ` ORDER BY party_id`},
		{&c.RiskHistory, `SELECT r.event_id, r.at, r.from_band, r.to_band, r.trigger FROM risk_changes r JOIN timeline t ON t.case_id = r.case_id AND t.event_id = r.event_id
			WHERE r.case_id = $1 AND t.compartment IN ` + in + ` ORDER BY r.at, r.event_id`},
		{&c.Referrals, `SELECT referral_id, destination, agency, party_role, status, with_consent, offered_at, sent_at, answered_at, compartment FROM referrals
			WHERE case_id = $1 AND compartment IN ` + in + ` ORDER BY referral_id`},
		{&c.FollowUps, `SELECT follow_up_id, party_id, party_role, kind, due_by, assignee, attempts, compartment FROM worklist
			WHERE case_id = $1 AND compartment IN ` + in + ` ORDER BY due_by, follow_up_id`},
		{&c.Items, `SELECT item_id, kind, active, detail, ends_at, compartment FROM case_items WHERE case_id = $1 AND compartment IN ` + in + ` ORDER BY kind, item_id`},
	} {
		if err != nil {
			break
		}
		*l.into, err = rowMaps(r.Context(), s.db, l.q, args...)
	}
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	now := projections.TS(s.now())
	for _, f := range c.FollowUps {
		f["overdue"] = f["due_by"].(string) < now
	}
	// The counts are the role's: what a hidden compartment holds is not
	// hinted at by a number.
	c.Parties, c.OpenFollowUps, c.OpenReferrals, c.ActiveConditions = len(c.PartyList), len(c.FollowUps), 0, 0
	for _, r := range c.Referrals {
		switch r["status"] {
		case string(domain.ReferralOfferedStatus), string(domain.ReferralSentStatus), string(domain.ReferralAcceptedStatus), string(domain.ReferralStartedStatus):
			c.OpenReferrals++
		}
	}
	for _, it := range c.Items {
		if it["kind"] == "condition" && fmt.Sprint(it["active"]) == "1" {
			c.ActiveConditions++
		}
	}
	writeJSON(w, c)
}

// compartmentsIn returns "($2, $3, …)" for the compartments, and the
// arguments with first before them.
func compartmentsIn(vis []domain.Compartment, first any) (string, []any) {
	args := []any{first}
	marks := make([]string, len(vis))
	for i, c := range vis {
		args = append(args, string(c))
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	return "(" + strings.Join(marks, ", ") + ")", args
}

// rowMaps reads rows as column → value maps (never nil, so an empty list
// is [] in JSON).
func rowMaps(ctx context.Context, db *sql.DB, q string, args ...any) ([]map[string]any, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(cols))
		for i, col := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[col] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// getTimeline returns the case's timeline in the compartments the role may
// see; the filter is in the query, so hidden entries never leave the
// database.
func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request, p Principal) {
	a, ok := s.caseRead(w, r, p, "timeline", nil, "limit", "after")
	if !ok {
		return
	}
	id, vis := a.id, a.vis
	limit, after, perr := pageParams(r)
	if perr != "" {
		problem(w, http.StatusBadRequest, "invalid_page", perr)
		return
	}
	args := []any{id.String(), after}
	var marks []string
	for i, c := range vis {
		args = append(args, string(c))
		marks = append(marks, fmt.Sprintf("$%d", i+3))
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(r.Context(), `SELECT version, event_id, type, title, summary, occurred_at, recorded_at, actor_user, actor_role, actor_agency, compartment, target_event_id
		FROM timeline WHERE case_id = $1 AND version > $2 AND compartment IN (`+strings.Join(marks, ", ")+`) ORDER BY version LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	defer rows.Close()
	out := []timelineEntry{}
	for rows.Next() {
		var e timelineEntry
		if err := rows.Scan(&e.Version, &e.EventID, &e.Type, &e.Title, &e.Summary, &e.OccurredAt, &e.RecordedAt, &e.Actor, &e.Role, &e.Agency, &e.Compartment, &e.Targets); err != nil {
			problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
			return
		}
		out = append(out, e)
	}
	resp := map[string]any{"case_id": id.String(), "entries": out}
	if len(out) > limit {
		// One more than asked exists: give the cursor to the next page.
		out = out[:limit]
		resp["entries"] = out
		resp["next"] = fmt.Sprintf("after=%d&limit=%d", out[len(out)-1].Version, limit)
	}
	writeJSON(w, resp)
}

// timelineEntry is one entry of a timeline or a past view: who, what,
// when and in which compartment, and the entry it annotates, if any; never
// a personal field.
type timelineEntry struct {
	Version     int64  `json:"version"`
	EventID     string `json:"event_id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Summary     string `json:"summary"`
	OccurredAt  string `json:"occurred_at"`
	RecordedAt  string `json:"recorded_at"`
	Actor       string `json:"actor"`
	Role        string `json:"role"`
	Agency      string `json:"agency"`
	Compartment string `json:"compartment"`
	Targets     string `json:"targets,omitempty"`
}

// getDashboard returns aggregate figures (no case data): supervisors,
// auditors and admins only.
func (s *Server) getDashboard(w http.ResponseWriter, r *http.Request, p Principal) {
	switch p.Role {
	case domain.RoleSupervisor, domain.RoleAuditor, domain.RoleAdmin:
	default:
		problem(w, http.StatusForbidden, "forbidden", "the dashboard is for supervisors, auditors and administrators")
		return
	}
	d, err := projections.ReadDashboard(r.Context(), s.db, s.now(), s.rule)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	writeJSON(w, d)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// pageParams reads ?limit (1–1000, default 200) and ?after (a version, default
// before the first), or says what is wrong with them.
func pageParams(r *http.Request) (limit int, after int64, problem string) {
	limit, after = 200, -1
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, "limit must be a whole number from 1 to 1000"
		}
		limit = n
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			return 0, 0, "after must be a version number"
		}
		after = n
	}
	return limit, after, ""
}

// listRead checks a list request's parameters (purpose, and params) and
// returns the purpose, or answers.
func listRead(w http.ResponseWriter, r *http.Request, params ...string) (string, bool) {
	for k := range r.URL.Query() {
		if k != "purpose" && !slices.Contains(params, k) {
			problem(w, http.StatusBadRequest, "unknown_parameter", "unknown query parameter: "+k)
			return "", false
		}
	}
	why, ok := purpose(r)
	if !ok {
		problem(w, http.StatusBadRequest, "purpose_required", "say why you read these records: ?purpose=… (at most 256 characters)")
		return "", false
	}
	return why, true
}

// sendPage answers a list read with one page of rows under listKey (the
// query asked for one more than limit, to know whether another page
// follows), after recording, under section, every case the page reveals.
func (s *Server) sendPage(w http.ResponseWriter, r *http.Request, p Principal, why, section, listKey string, rows []map[string]any, limit int, sortKey, idKey string, resp map[string]any) {
	if resp == nil {
		resp = map[string]any{}
	}
	if len(rows) > limit {
		rows = rows[:limit]
		resp["next"] = nextPage(rows[limit-1][sortKey], rows[limit-1][idKey], limit)
	}
	cases := make([]string, len(rows))
	for i, row := range rows {
		cases[i] = row["case_id"].(string)
	}
	if !s.recordEach(w, r, p, why, section, cases) {
		return
	}
	resp[listKey] = rows
	writeJSON(w, resp)
}

// recordEach appends an access record for every case a list reveals,
// before the list is sent; it answers 503 and reports false when one cannot
// be written.
func (s *Server) recordEach(w http.ResponseWriter, r *http.Request, p Principal, why, section string, cases []string) bool {
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c] {
			continue
		}
		seen[c] = true
		id, err := uuid.Parse(c)
		if err == nil {
			err = s.recordAccess(r.Context(), p, id, why, []string{section}, uuid.Nil, "")
		}
		if err != nil {
			problem(w, http.StatusServiceUnavailable, "access_log_unavailable", "the access record could not be written; nothing was read")
			return false
		}
	}
	return true
}

// getReferrals lists referrals: a partner agency sees only those addressed
// to it; supervisors and auditors see all.
func (s *Server) getReferrals(w http.ResponseWriter, r *http.Request, p Principal) {
	why, ok := listRead(w, r, "limit", "after")
	if !ok {
		return
	}
	limit, after, ok := listPage(w, r)
	if !ok {
		return
	}
	q := `SELECT referral_id, case_id, destination, agency, status, sent_at, answered_at FROM referrals
		WHERE sent_at <> '' AND (sent_at > $1 OR (sent_at = $1 AND referral_id > $2))`
	args := []any{after.key, after.id}
	switch p.Role {
	case domain.RolePartner:
		q += ` AND agency = $4`
		args = append(args, limit+1, p.Agency)
	case domain.RoleSupervisor, domain.RoleAuditor:
		q += ` AND compartment <> 'sealed'`
		args = append(args, limit+1)
	default:
		problem(w, http.StatusForbidden, "forbidden", "referral lists are for partner agencies, supervisors and auditors")
		return
	}
	rows, err := rowMaps(r.Context(), s.db, q+` ORDER BY sent_at, referral_id LIMIT $3`, args...)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	s.sendPage(w, r, p, why, "referrals", "referrals", rows, limit, "sent_at", "referral_id", nil)
}

// getPersonCases finds the cases a person (by master-name-index id) is a
// party to, for the roles that read case files.
func (s *Server) getPersonCases(w http.ResponseWriter, r *http.Request, p Principal) {
	why, ok := listRead(w, r, "limit", "after")
	if !ok {
		return
	}
	vis := Visible(p.Role)
	if len(vis) == 0 {
		problem(w, http.StatusForbidden, "forbidden", "role may not search case files")
		return
	}
	person := r.PathValue("person")
	if person == "" || len(person) > 64 {
		problem(w, http.StatusBadRequest, "invalid_person_id", "a person id is 1 to 64 characters")
		return
	}
	limit, after, ok := listPage(w, r)
	if !ok {
		return
	}
	// A party identified in a compartment the role may not see does not
	// reveal the case either.
	in, args := compartmentsIn(vis, person)
	args = append(args, after.key, after.id, limit+1)
	n := len(args)
	rows, err := rowMaps(r.Context(), s.db, `SELECT p.case_id, p.role AS party_role, c.status, c.risk, c.opened_at FROM parties p JOIN cases c ON c.case_id = p.case_id
		WHERE p.person_id = $1 AND p.compartment IN `+in+fmt.Sprintf(` AND (c.opened_at > $%d OR (c.opened_at = $%d AND p.case_id > $%d))
		ORDER BY c.opened_at, p.case_id LIMIT $%d`, n-2, n-2, n-1, n), args...)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	s.sendPage(w, r, p, why, "person_search", "cases", rows, limit, "opened_at", "case_id", nil)
}
