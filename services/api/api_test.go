package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/internal/testfixture"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/api"
	"github.com/google/uuid"
	_ "modernc.org/sqlite"
)

// accessGate is the real store, whose access streams can be made to fail.
type accessGate struct {
	eventstore.Store
	broken atomic.Bool
}

func (g *accessGate) Append(ctx context.Context, s string, e eventstore.ExpectedVersion, ev []eventstore.EventData) (eventstore.AppendResult, error) {
	if g.broken.Load() && strings.HasPrefix(s, "access-") {
		return eventstore.AppendResult{}, errors.New("access stream unavailable")
	}
	return g.Store.Append(ctx, s, e, ev)
}

type fixture struct {
	runner *projections.Runner
	db     *sql.DB
	srv    *httptest.Server
	store  *accessGate
	cases  []gen.Case
}

var tokens = map[string]api.Principal{
	"officer-token-0123456789abcd":  {UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"},
	"sw-token-0123456789abcdefghij": {UserID: "sw-1", Role: domain.RoleSocialWorker, Agency: "police-lavallee"},
	"sup-token-0123456789abcdefghi": {UserID: "sup-1", Role: domain.RoleSupervisor, Agency: "police-lavallee"},
	"partner-token-0123456789abcd":  {UserID: "p-1", Role: domain.RolePartner, Agency: "cavac-lavallee"},
	"admin-token-0123456789abcdefg": {UserID: "adm-1", Role: domain.RoleAdmin, Agency: "police-lavallee"},
	"inv-token-0123456789abcdefghi": {UserID: "inv-1", Role: domain.RoleInvestigator, Agency: "police-lavallee"},
	"aud-token-0123456789abcdefghi": {UserID: "aud-1", Role: domain.RoleAuditor, Agency: "police-lavallee"},
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, cases := testfixture.Generated(t, 23, 8)
	db := testfixture.ReadModels(t)
	r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	gate := &accessGate{Store: st}
	srv := httptest.NewServer(api.New(db, gate, api.NewTokens(tokens), func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }))
	t.Cleanup(srv.Close)
	return &fixture{runner: r, db: db, srv: srv, store: gate, cases: cases}
}

func (f *fixture) get(t *testing.T, token, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: error without a problem body", path)
	}
	return resp.StatusCode, body
}

// accessRecords reads today's access stream's records of case reads.
func (f *fixture) accessRecords(t *testing.T) []domain.RecordViewed {
	t.Helper()
	var out []domain.RecordViewed
	for _, e := range f.accessEvents(t) {
		if v, ok := e.Data.(domain.RecordViewed); ok {
			out = append(out, v)
		}
	}
	return out
}

// accessEvents reads today's whole access stream: case reads, list reads
// and security events.
func (f *fixture) accessEvents(t *testing.T) []domain.Event {
	t.Helper()
	var out []domain.Event
	for from := int64(0); ; {
		recs, err := f.store.ReadStream(context.Background(), "access-2024-01-02", from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e, err := domain.DecodeStored(r.ID, uuid.Nil, r.Type, r.Data, r.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		if len(recs) < 1000 {
			return out
		}
		from = recs[len(recs)-1].Version + 1
	}
}

// TestRolesAndCompartments is the role × compartment × endpoint table: what
// each role may read, and that police never see social-work entries nor
// social workers police ones. Every case read, allowed or denied, leaves an
// access record first.
func TestRolesAndCompartments(t *testing.T) {
	f := setup(t)
	caseID := f.cases[0].ID.String()
	tl := "/v1/cases/" + caseID + "/timeline?purpose=follow-up"
	tests := []struct {
		token  string
		path   string
		status int
		see    []string // compartments that may appear
		denied bool
	}{
		{"officer-token-0123456789abcd", tl, 200, []string{"police", "shared"}, false},
		{"sw-token-0123456789abcdefghij", tl, 200, []string{"social_work", "shared"}, false},
		{"sup-token-0123456789abcdefghi", tl, 200, []string{"police", "social_work", "shared"}, false},
		{"partner-token-0123456789abcd", tl, 403, nil, true},
		{"admin-token-0123456789abcdefg", tl, 403, nil, true},
		{"officer-token-0123456789abcd", "/v1/cases/" + caseID + "?purpose=patrol", 200, nil, false},
		{"partner-token-0123456789abcd", "/v1/cases/" + caseID + "?purpose=referral", 403, nil, true},
		{"sup-token-0123456789abcdefghi", "/v1/dashboard", 200, nil, false},
		{"officer-token-0123456789abcd", "/v1/dashboard", 403, nil, false},
	}
	for _, tt := range tests {
		before := len(f.accessRecords(t))
		status, body := f.get(t, tt.token, tt.path)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d (%v)", tokens[tt.token].Role, tt.path, status, tt.status, body)
			continue
		}
		if tt.see != nil {
			entries, _ := body["entries"].([]any)
			if len(entries) == 0 {
				t.Errorf("%s: empty timeline", tokens[tt.token].Role)
			}
			for _, e := range entries {
				c := e.(map[string]any)["compartment"].(string)
				if !contains(tt.see, c) {
					t.Errorf("%s saw a %s entry", tokens[tt.token].Role, c)
				}
			}
		}
		after := f.accessRecords(t)
		if strings.HasPrefix(tt.path, "/v1/cases/") {
			if len(after) != before+1 {
				t.Errorf("%s %s: %d access records added", tokens[tt.token].Role, tt.path, len(after)-before)
				continue
			}
			if got := after[len(after)-1]; got.Denied != tt.denied || got.CaseID.String() != caseID || got.Purpose == "" {
				t.Errorf("%s %s: access record %+v", tokens[tt.token].Role, tt.path, got)
			}
		}
	}
	// The officer and the social worker see different parts of the same
	// case: the social worker's safety plans stay out of the officer's view.
	_, off := f.get(t, "officer-token-0123456789abcd", tl)
	_, sw := f.get(t, "sw-token-0123456789abcdefghij", tl)
	if types(off)["case.safety_plan_created"] || (hasSafetyPlan(f.cases[0]) && !types(sw)["case.safety_plan_created"]) {
		t.Errorf("safety plans: officer %v, social worker %v", types(off)["case.safety_plan_created"], types(sw)["case.safety_plan_created"])
	}
}

func hasSafetyPlan(c gen.Case) bool {
	for _, e := range c.Events() {
		if e.Type() == "case.safety_plan_created" {
			return true
		}
	}
	return false
}

func types(body map[string]any) map[string]bool {
	out := map[string]bool{}
	entries, _ := body["entries"].([]any)
	for _, e := range entries {
		out[e.(map[string]any)["type"].(string)] = true
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func TestBadRequests(t *testing.T) {
	f := setup(t)
	caseID := f.cases[0].ID.String()
	tests := []struct {
		token, path string
		status      int
		code        string
	}{
		{"", "/v1/cases/" + caseID + "?purpose=x", 401, "unauthenticated"},
		{"not-a-token", "/v1/cases/" + caseID + "?purpose=x", 401, "unauthenticated"},
		{"officer-token-0123456789abcd", "/v1/cases/not-a-uuid?purpose=x", 400, "invalid_case_id"},
		{"officer-token-0123456789abcd", "/v1/cases/" + caseID, 400, "purpose_required"},
		{"officer-token-0123456789abcd", "/v1/cases/" + caseID + "?purpose=x&include=notes", 400, "unknown_parameter"},
		{"officer-token-0123456789abcd", "/v1/cases/0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b?purpose=x", 404, "case_not_found"},
		// A ciphertext echoed back would come out decrypted: refused.
		{"sup-token-0123456789abcdefghi", "/v1/worklist?purpose=x&assignee=cl:enc1:c" + caseID + ":AAAA", 400, "invalid_input"},
		{"sup-token-0123456789abcdefghi", "/v1/worklist?purpose=x&assignee=cl%3Aenc1%3Ac" + caseID + "%3AAAAA", 400, "invalid_input"},
	}
	for _, tt := range tests {
		status, body := f.get(t, tt.token, tt.path)
		if status != tt.status || body["code"] != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.path, status, body, tt.status, tt.code)
		}
	}
}

// TestAccessLogFailsClosed: when the access record cannot be written,
// nothing is read.
func TestAccessLogFailsClosed(t *testing.T) {
	f := setup(t)
	f.store.broken.Store(true)
	status, body := f.get(t, "sup-token-0123456789abcdefghi", "/v1/cases/"+f.cases[0].ID.String()+"/timeline?purpose=review")
	if status != 503 || body["code"] != "access_log_unavailable" || body["entries"] != nil {
		t.Fatalf("got %d %v", status, body)
	}
}

func (f *fixture) post(t *testing.T, token, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestCommands: a command posted over HTTP takes the same path as NATS
// intake, with the same refusals mapped to 400/403/404/409/422.
func TestCommands(t *testing.T) {
	f := setup(t)
	officer := tokens["officer-token-0123456789abcd"]
	c := f.cases[0]
	note := domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: c.ID, CommandID: domain.EventID(c.ID, 700), Actor: officer,
		OccurredAt: time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC), SourceSystem: "records"},
		NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c.ID, 701), Text: "Called the victim; no answer."}}
	_, body, _ := domain.EncodeCommand(note)
	path := "/v1/cases/" + c.ID.String() + "/commands/add_note"
	status, out := f.post(t, "officer-token-0123456789abcd", path, body)
	if status != 201 || out["accepted"] != true {
		t.Fatalf("add_note: %d %v", status, out)
	}
	// The same command again is absorbed: 200 with the stored result.
	if status, out = f.post(t, "officer-token-0123456789abcd", path, body); status != 200 || out["duplicate"] != true {
		t.Fatalf("retry: %d %v", status, out)
	}
	// The same id with another body is another command: refused, and the
	// note recorded stays as it was.
	changed := note
	changed.Text = "Victim recanted."
	_, changedBody, _ := domain.EncodeCommand(changed)
	if status, out = f.post(t, "officer-token-0123456789abcd", path, changedBody); status != 409 || out["code"] != "conflicting_duplicate" || out["field"] != "command_id" {
		t.Fatalf("a conflicting duplicate: %d %v", status, out)
	}
	if recs, _ := f.store.ReadStream(context.Background(), domain.StreamName(c.ID), 0, 10000); !strings.Contains(string(recs[len(recs)-1].Data), "Called the victim") {
		t.Fatal("the recorded note changed")
	}
	escalate := domain.EscalateHighRisk{CommandHeader: note.CommandHeader, HighRiskEscalated: domain.HighRiskEscalated{To: "cell"}}
	escalate.CommandID = domain.EventID(c.ID, 702)
	_, escBody, _ := domain.EncodeCommand(escalate)
	other := note
	other.CaseID = f.cases[1].ID
	_, otherBody, _ := domain.EncodeCommand(other)
	tests := []struct {
		name, token, path string
		body              []byte
		status            int
		code              string
	}{
		{"malformed", "officer-token-0123456789abcd", path, []byte(`{"case_id":`), 400, "malformed"},
		{"unknown command", "officer-token-0123456789abcd", "/v1/cases/" + c.ID.String() + "/commands/drop_case", body, 400, "unknown_command"},
		{"someone else's actor", "sw-token-0123456789abcdefghij", path, body, 403, "actor_mismatch"},
		{"body for another case", "officer-token-0123456789abcd", path, otherBody, 400, "case_mismatch"},
		{"too large", "officer-token-0123456789abcd", path, bytes.Repeat([]byte("x"), 300<<10), 413, "too_large"},
	}
	closed := c.State.Status == domain.StatusClosed
	if closed {
		tests = append(tests, struct {
			name, token, path string
			body              []byte
			status            int
			code              string
		}{"rule on a closed case", "officer-token-0123456789abcd", "/v1/cases/" + c.ID.String() + "/commands/escalate_high_risk", escBody, 409, "case_closed"})
	}
	for _, tt := range tests {
		status, out := f.post(t, tt.token, tt.path, tt.body)
		if status != tt.status || out["code"] != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.name, status, out, tt.status, tt.code)
		}
		if strings.Contains(fmt.Sprint(out), "Called the victim") {
			t.Errorf("%s: the refusal repeats the note", tt.name)
		}
	}
}

func TestListsAndSearch(t *testing.T) {
	f := setup(t)
	// A partner sees only referrals addressed to its agency, each case's
	// access recorded.
	before := len(f.accessRecords(t))
	status, body := f.get(t, "partner-token-0123456789abcd", "/v1/referrals?purpose=intake")
	if status != 200 {
		t.Fatalf("partner referrals: %d %v", status, body)
	}
	refs := body["referrals"].([]any)
	cases := map[string]bool{}
	for _, r := range refs {
		m := r.(map[string]any)
		if m["agency"] != "cavac-lavallee" {
			t.Fatalf("partner saw a referral to %v", m["agency"])
		}
		cases[m["case_id"].(string)] = true
	}
	if len(refs) == 0 {
		t.Fatal("fixture has no referral to the partner")
	}
	if got := len(f.accessRecords(t)) - before; got != len(cases) {
		t.Fatalf("%d access records for %d cases", got, len(cases))
	}
	if status, _ := f.get(t, "officer-token-0123456789abcd", "/v1/referrals?purpose=x"); status != 403 {
		t.Fatalf("officer listing referrals: %d", status)
	}
	// Search by person: the victim of a case finds it.
	var person string
	for _, p := range f.cases[2].State.Parties {
		if p.Role == domain.PartyVictim {
			person = p.PersonID
		}
	}
	status, body = f.get(t, "officer-token-0123456789abcd", "/v1/people/"+person+"/cases?purpose=check")
	if status != 200 || !strings.Contains(fmt.Sprint(body), f.cases[2].ID.String()) {
		t.Fatalf("person search: %d %v", status, body)
	}
	if status, _ := f.get(t, "partner-token-0123456789abcd", "/v1/people/"+person+"/cases?purpose=x"); status != 403 {
		t.Fatalf("partner searching people: %d", status)
	}
	// Pagination: two pages of a timeline join to the whole.
	tl := "/v1/cases/" + f.cases[0].ID.String() + "/timeline?purpose=review"
	_, whole := f.get(t, "sup-token-0123456789abcdefghi", tl)
	_, first := f.get(t, "sup-token-0123456789abcdefghi", tl+"&limit=5")
	next, _ := first["next"].(string)
	_, rest := f.get(t, "sup-token-0123456789abcdefghi", tl+"&"+strings.Replace(next, "limit=5", "limit=1000", 1))
	all := len(whole["entries"].([]any))
	if len(first["entries"].([]any)) != 5 || next == "" || 5+len(rest["entries"].([]any)) != all {
		t.Fatalf("pages: %d + %d of %d (next %q)", len(first["entries"].([]any)), len(rest["entries"].([]any)), all, next)
	}
	if status, body := f.get(t, "sup-token-0123456789abcdefghi", tl+"&limit=0"); status != 400 || body["code"] != "invalid_page" {
		t.Fatalf("limit 0: %d %v", status, body)
	}
	// The referral list in pages of two gives the whole list, in order.
	_, wholeRefs := f.get(t, "sup-token-0123456789abcdefghi", "/v1/referrals?purpose=audit")
	var paged []any
	for path, n := "/v1/referrals?purpose=audit&limit=2", 0; path != "" && n < 100; n++ {
		_, page := f.get(t, "sup-token-0123456789abcdefghi", path)
		paged = append(paged, page["referrals"].([]any)...)
		path = ""
		if next, ok := page["next"].(string); ok {
			path = "/v1/referrals?purpose=audit&" + next
		}
	}
	if want := wholeRefs["referrals"].([]any); len(want) < 3 || fmt.Sprint(paged) != fmt.Sprint(want) {
		t.Fatalf("referrals in pages of two: %d rows, whole list %d", len(paged), len(want))
	}
}
