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
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/personal"
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
	log                         *slog.Logger
	keys                        *personal.Keys
}

// New returns the API over a read-model database and the record.
func New(db *sql.DB, store eventstore.Store, tokens *Tokens, now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{db: db, store: store, tokens: tokens, rule: projections.DefaultContactRule(), now: now, mux: http.NewServeMux(), log: slog.New(slog.DiscardHandler)}
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
const maxCommand = natsbus.MaxCommandSize

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
		s.fail(w, r, err)
		return
	}
	h := cmd.Head()
	switch {
	case h.CaseID != id:
		problem(w, http.StatusBadRequest, "case_mismatch", "the body's case_id is not the case in the path")
		return
	case h.Actor != p:
		s.refuse(w, r, p, http.StatusForbidden, "actor_mismatch", "the command's actor must be the authenticated caller")
		return
	}
	res, events, err := casefile.Execute(r.Context(), s.store, cmd, s.now, 10)
	if err != nil {
		// A refusal is the command's; anything else is the record's.
		s.fail(w, r, during(errStore, err))
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

// WithLogger logs the API's internal errors and unavailability (with the
// request id the answer carries) to log.
func (s *Server) WithLogger(log *slog.Logger) *Server {
	s.log = log
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No path or query value in the store's encrypted form: the API
		// decrypts what it answers, and a value it echoes (an assignee, a
		// filter) would come back in clear, a decryption service for
		// anyone holding a ciphertext. Commands' bodies are refused the
		// same by the domain (Decide).
		if reservedInRequest(r) {
			problem(w, http.StatusBadRequest, "invalid_input", "a value in the store's encrypted form ("+domain.EncryptedPrefix+"…) is not accepted")
			return
		}
		s.mux.ServeHTTP(w, r)
	})).ServeHTTP(w, r)
}

// reservedInRequest reports whether the request's path or a query value
// holds the store's encrypted form.
func reservedInRequest(r *http.Request) bool {
	if strings.Contains(r.URL.Path, domain.EncryptedPrefix) || strings.Contains(r.URL.RawPath, domain.EncryptedPrefix) {
		return true
	}
	for _, vs := range r.URL.Query() {
		for _, v := range vs {
			if strings.Contains(v, domain.EncryptedPrefix) {
				return true
			}
		}
	}
	return false
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
			s.refuse(w, r, unauthenticated, http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required")
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
	return s.appendAccess(ctx, p, caseID, domain.RecordViewed{CaseID: caseID, Purpose: why, Sections: sections, Denied: reason != "", Reason: reason, OrderID: order})
}

// unauthenticated is the actor of a security event whose caller presented
// no valid credential.
var unauthenticated = Principal{UserID: "unauthenticated", Role: domain.RoleSystem, Agency: "none"}

// refuse answers a request refused before anything was read (401 or 403)
// and records it as a security event: the route pattern, never its values,
// and the caller when identified. The answer does not wait on the record:
// a refusal the log could not keep is logged at ERROR instead.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p Principal, status int, code, reason string) {
	route := r.Pattern
	if route == "" {
		route = r.Method + " (no route)"
	}
	if err := s.appendAccess(r.Context(), p, uuid.Nil, domain.AccessRefused{Route: route, Status: status, Reason: reason}); err != nil {
		s.log.Error("api: security event not recorded", "route", route, "status", status, "error", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="caseledger"`)
	}
	problem(w, status, code, reason)
}

// recordList appends the access record of a list, search or dashboard
// read: allowed (with how many cases it revealed) or denied.
func (s *Server) recordList(ctx context.Context, p Principal, list, why string, filters []string, cases int, reason string) error {
	return s.appendAccess(ctx, p, uuid.Nil, domain.ListViewed{List: list, Purpose: why, Filters: filters, Cases: cases, Denied: reason != "", Reason: reason})
}

// denyList records a refused list read and answers 403.
func (s *Server) denyList(w http.ResponseWriter, r *http.Request, p Principal, list, reason string) {
	why, _ := purpose(r)
	if err := s.recordList(r.Context(), p, list, why, listFilters(r), 0, reason); err != nil {
		s.fail(w, r, during(errAccessLog, err))
		return
	}
	problem(w, http.StatusForbidden, "forbidden", reason)
}

// listFilters are what a list read asked for, ids only: its query
// parameters but purpose and paging, and the person searched.
func listFilters(r *http.Request) []string {
	var out []string
	if v := r.PathValue("person"); v != "" {
		out = append(out, "person="+v)
	}
	for k, vs := range r.URL.Query() {
		if k == "purpose" || k == "limit" || k == "after" || len(vs) == 0 || len(out) == 10 {
			continue
		}
		out = append(out, k+"="+vs[0])
	}
	slices.Sort(out)
	return out
}

// appendAccess appends one access record to the day's access stream.
func (s *Server) appendAccess(ctx context.Context, p Principal, caseID uuid.UUID, d domain.EventData) error {
	if err := casefile.AppendAccess(ctx, s.store, p, caseID, d, "api", s.now()); err != nil {
		s.AccessFailed.Add(1)
		return err
	}
	s.AccessWritten.Add(1)
	return nil
}

// caseAccess is what a read of one case was allowed: the case, the access
// policy that judged it, and, for the reads that load the case from the
// record, its state and records.
type caseAccess struct {
	id    uuid.UUID
	pol   access.Policy
	state domain.State
	recs  []eventstore.Record
}

// readSpec says how a read of one case is judged: on which surface, under
// which section name in the access record, whether it reads the record
// itself (and so judges by the case as recorded rather than as the read
// model last folded it), its own check after the policy's, and the query
// parameters it takes besides purpose and order.
type readSpec struct {
	surface    access.Surface
	section    string
	fromRecord bool
	check      func(a *caseAccess) (status int, code, reason string)
	params     []string
}

// caseRead does what every read of one case does first: parse the id,
// require a purpose, judge the read with the access policy (the reader, the
// case's grants and any production order) and the read's own check, and
// record the access, also when denied; it reports false when it has
// answered. An unknown case and a case not open to the reader's agency are
// answered alike (404), so that a probe learns nothing; the access record
// keeps the true reason.
func (s *Server) caseRead(w http.ResponseWriter, r *http.Request, p Principal, spec readSpec) (*caseAccess, bool) {
	a := &caseAccess{}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		problem(w, http.StatusBadRequest, "invalid_case_id", "the case id is not a uuid")
		return a, false
	}
	a.id = id
	for k := range r.URL.Query() {
		if k != "purpose" && k != "order" && !slices.Contains(spec.params, k) {
			problem(w, http.StatusBadRequest, "unknown_parameter", "unknown query parameter: "+k)
			return a, false
		}
	}
	why, ok := purpose(r)
	if !ok {
		problem(w, http.StatusBadRequest, "purpose_required", "say why you read this case: ?purpose=… (at most 256 characters)")
		return a, false
	}
	var order uuid.UUID
	if o := r.URL.Query().Get("order"); o != "" {
		if order, err = uuid.Parse(o); err != nil {
			problem(w, http.StatusBadRequest, "invalid_order_id", "the order id is not a uuid")
			return a, false
		}
	}
	// An order is judged against the record, not the read model.
	known := true
	if spec.fromRecord || order != uuid.Nil {
		if a.state, a.recs, err = casefile.Load(r.Context(), s.store, id); err != nil {
			s.fail(w, r, during(errStore, err))
			return a, false
		}
		known = len(a.recs) > 0
	} else if a.state, err = projections.CaseGrants(r.Context(), s.db, id.String()); errors.Is(err, projections.ErrNoCase) {
		known = false
	} else if err != nil {
		s.fail(w, r, during(errReadModels, err))
		return a, false
	}
	a.pol = access.For(p, spec.surface, a.state, order)
	// A read that finds nothing is recorded, not as a denial; a case not
	// open to the reader's agency is answered as unknown, and recorded as
	// the denial it is.
	status, code, reason := http.StatusForbidden, "forbidden", a.pol.Denied()
	switch {
	case !known && reason != access.NoCaseFile && reason != access.AuditorsOnly && reason != access.NotOrderRole:
		// The reasons that hang on the reader's role alone are given
		// whether or not the case exists; any other read of an unknown
		// case is answered as unknown.
		status, code, reason = http.StatusNotFound, "case_not_found", ""
	case reason == access.OtherAgency:
		status, code = http.StatusNotFound, "case_not_found"
	case reason == "" && spec.check != nil:
		status, code, reason = spec.check(a)
	}
	denial := reason
	if status == http.StatusNotFound && code != "case_not_found" {
		denial = ""
	}
	if err := s.recordAccess(r.Context(), p, id, why, []string{spec.section}, order, denial); err != nil {
		// Fail closed: no read without its access record.
		s.fail(w, r, during(errAccessLog, err))
		return a, false
	}
	switch {
	case code == "case_not_found":
		problem(w, status, code, "no case with this id")
		return a, false
	case reason != "":
		problem(w, status, code, reason)
		return a, false
	}
	return a, true
}

// getCase returns the case's current state: status, assignment, risk,
// counts, and its parties, risk history, referrals, open follow-ups and
// conditions, consents, flags and legal holds, each list and count limited
// in the query itself to what the access policy shows.
func (s *Server) getCase(w http.ResponseWriter, r *http.Request, p Principal) {
	a, ok := s.caseRead(w, r, p, readSpec{surface: access.Case, section: "case"})
	if !ok {
		return
	}
	c, err := projections.ReadCase(r.Context(), s.db, a.id.String(), a.pol, s.rule, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, r, c)
}

// getTimeline returns the case's timeline as the access policy shows it;
// the filter is in the query, so hidden entries never leave the database.
func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request, p Principal) {
	limit, after, perr := pageParams(r)
	if perr != "" {
		problem(w, http.StatusBadRequest, "invalid_page", perr)
		return
	}
	a, ok := s.caseRead(w, r, p, readSpec{surface: access.Timeline, section: "timeline", params: []string{"limit", "after"}})
	if !ok {
		return
	}
	out, more, err := projections.ReadTimeline(r.Context(), s.db, a.id.String(), a.pol, after, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := map[string]any{"case_id": a.id.String(), "entries": out}
	if more {
		// Give the cursor to the next page, with every parameter it was read with.
		q := url.Values{"after": {strconv.FormatInt(out[len(out)-1].Version, 10)}, "limit": {strconv.Itoa(limit)}}
		if o := r.URL.Query().Get("order"); o != "" {
			q.Set("order", o)
		}
		resp["next"] = q.Encode()
	}
	s.writeJSON(w, r, resp)
}

// timelineEntry is one entry of a timeline or a past view.
type timelineEntry = projections.TimelineEntry

// getDashboard returns aggregate figures (no case data): supervisors,
// auditors and admins only.
// The figures are those of the cases the caller's agency holds.
func (s *Server) getDashboard(w http.ResponseWriter, r *http.Request, p Principal) {
	l := access.ForList(p, access.Dashboard, "")
	if why := l.Denied(); why != "" {
		s.denyList(w, r, p, "dashboard", why)
		return
	}
	d, err := projections.ReadDashboard(r.Context(), s.db, l.Agency(), s.now(), s.rule)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	why, _ := purpose(r)
	if err := s.recordList(r.Context(), p, "dashboard", why, nil, 0, ""); err != nil {
		s.fail(w, r, during(errAccessLog, err))
		return
	}
	s.writeJSON(w, r, d)
}

// writeJSON answers v, its personal values decrypted for the reader (the
// read models and the record hold them encrypted; an erased one reads
// personal.Erased).
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err == nil && s.keys != nil {
		b, err = s.keys.DecryptJSON(r.Context(), b)
		if err != nil {
			s.fail(w, r, during(errKeys, err))
			return
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// WithKeys makes the API decrypt personal values for its readers.
func (s *Server) WithKeys(k *personal.Keys) *Server {
	s.keys = k
	return s
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

// sendPage answers a list read with one page, after recording, under
// section, every case the page reveals.
func sendPage[T any](s *Server, w http.ResponseWriter, r *http.Request, p Principal, why, section, listKey string, page projections.Listed[T], err error, resp map[string]any) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if resp == nil {
		resp = map[string]any{}
	}
	if page.Next != "" {
		q := url.Values{"after": {page.Next}, "limit": {r.URL.Query().Get("limit")}}
		if q.Get("limit") == "" {
			q.Del("limit")
		}
		for _, k := range []string{"assignee"} {
			if v := r.URL.Query().Get(k); v != "" {
				q.Set(k, v)
			}
		}
		resp["next"] = q.Encode()
	}
	if err := s.recordList(r.Context(), p, section, why, listFilters(r), len(page.Cases), ""); err != nil {
		s.fail(w, r, during(errAccessLog, err))
		return
	}
	if !s.recordEach(w, r, p, why, section, page.Cases) {
		return
	}
	resp[listKey] = page.Rows
	s.writeJSON(w, r, resp)
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
			s.fail(w, r, during(errAccessLog, err))
			return false
		}
	}
	return true
}

// getReferrals lists referrals: a partner agency sees only those addressed
// to it; supervisors and auditors those of the cases open to their agency.
func (s *Server) getReferrals(w http.ResponseWriter, r *http.Request, p Principal) {
	why, ok := listRead(w, r, "limit", "after")
	if !ok {
		return
	}
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	l := access.ForList(p, access.Referrals, "")
	if why := l.Denied(); why != "" {
		s.denyList(w, r, p, "referrals", why)
		return
	}
	page, err := projections.ReadReferrals(r.Context(), s.db, l, pg)
	sendPage(s, w, r, p, why, "referrals", "referrals", page, err, nil)
}

// getPersonCases finds the cases a person (by master-name-index id) is a
// party to, for the roles that read case files, among the cases open to
// their agency.
func (s *Server) getPersonCases(w http.ResponseWriter, r *http.Request, p Principal) {
	why, ok := listRead(w, r, "limit", "after")
	if !ok {
		return
	}
	l := access.ForList(p, access.PersonSearch, "")
	if why := l.Denied(); why != "" {
		s.denyList(w, r, p, "person_search", why)
		return
	}
	person := r.PathValue("person")
	if person == "" || len(person) > 64 {
		problem(w, http.StatusBadRequest, "invalid_person_id", "a person id is 1 to 64 characters")
		return
	}
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	page, err := projections.PersonCases(r.Context(), s.db, l, person, pg)
	sendPage(s, w, r, p, why, "person_search", "cases", page, err, nil)
}
