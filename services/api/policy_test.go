package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/services/api"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// Readers of other agencies: an officer of another police service, and a
// social worker and an auditor of the health and social services centre,
// to which some generated cases were shared without consent (art. 59.1)
// from a given entry on.
var outsiders = map[string]domain.Actor{
	"mtl-officer-token-0123456789ab": {UserID: "off-mtl", Role: domain.RoleOfficer, Agency: "police-montreal"},
	"cisss-sw-token-0123456789abcde": {UserID: "sw-cisss", Role: domain.RoleSocialWorker, Agency: "cisss-lavallee"},
	"cisss-aud-token-0123456789abcd": {UserID: "aud-cisss", Role: domain.RoleAuditor, Agency: "cisss-lavallee"},
	"riv-sw-token-0123456789abcdefg": {UserID: "sw-r1", Role: domain.RoleSocialWorker, Agency: "police-riviere"},
}

// withOutsiders adds the other agencies' readers to the tokens for one
// test.
func withOutsiders(t *testing.T) {
	for tok, p := range outsiders {
		tokens[tok] = p
	}
	t.Cleanup(func() {
		for tok := range outsiders {
			delete(tokens, tok)
		}
	})
}

// TestSurfacesFollowThePolicy reads every case on the timeline, entry and
// replay surfaces as every reader (each role of the owning agency, and the
// outsiders) and checks that what the API shows is exactly what the access
// policy, built independently here from the record, shows; a case not open
// to the reader's agency is answered as unknown, and every read leaves an
// access record with the policy's reason.
func TestSurfacesFollowThePolicy(t *testing.T) {
	f := setup(t)
	withOutsiders(t)
	ctx := context.Background()
	// One open case is transferred to police-riviere through the API, so
	// that the table has a receiving agency's column.
	for _, c := range f.cases {
		if st, _, _ := casefile.Load(ctx, f.store, c.ID); st.Status == domain.StatusOpen {
			transfer := domain.EventID(c.ID, 1500)
			hdr := func(token string, n int) domain.CommandHeader {
				return domain.CommandHeader{CaseID: c.ID, CommandID: domain.EventID(c.ID, n), Actor: tokens[token], OccurredAt: time.Date(2024, 1, 2, 2, 0, 0, 0, time.UTC), SourceSystem: "records"}
			}
			f.do(t, "sw-token-0123456789abcdefghij", domain.RequestTransfer{CommandHeader: hdr("sw-token-0123456789abcdefghij", 1501),
				TransferRequested: domain.TransferRequested{TransferID: transfer, ToAgency: "police-riviere", ToUser: "sw-r1", Reason: "victim moved"}})
			f.do(t, "sup-token-0123456789abcdefghi", domain.AcceptTransfer{CommandHeader: hdr("sup-token-0123456789abcdefghi", 1502), TransferAccepted: domain.TransferAccepted{TransferID: transfer}})
			if _, err := f.runner.CatchUp(ctx, nil); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	shared, transferred := 0, 0
	for _, c := range f.cases {
		st, recs, err := casefile.Load(ctx, f.store, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range st.Grants {
			if g.Agency == "cisss-lavallee" {
				shared++
			}
			if g.Agency == "police-riviere" && g.Basis == domain.GrantTransfer {
				transferred++
			}
		}
		for tok, reader := range tokens {
			for _, surface := range []access.Surface{access.Timeline, access.Entry, access.Replay} {
				pol := access.For(reader, surface, st, uuid.Nil)
				before := len(f.accessRecords(t))
				switch surface {
				case access.Timeline:
					status, body := f.get(t, tok, "/v1/cases/"+c.ID.String()+"/timeline?purpose=review&limit=1000")
					if !statusFollows(t, reader, surface, pol, status, body) {
						continue
					}
					var got []string
					for _, e := range body["entries"].([]any) {
						got = append(got, e.(map[string]any)["event_id"].(string))
					}
					var want []string
					for _, r := range recs {
						if pol.ShowsEntry(r.ID) == "" {
							want = append(want, r.ID.String())
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s (%s, %s) timeline of %s: %d entries, the policy shows %d", reader.UserID, reader.Role, reader.Agency, c.ID, len(got), len(want))
					}
				case access.Entry:
					// A sample of entries: the first, a middle one, the last.
					for _, r := range []int{0, len(recs) / 2, len(recs) - 1} {
						id := recs[r].ID
						status, body := f.get(t, tok, "/v1/cases/"+c.ID.String()+"/entries/"+id.String()+"?purpose=review")
						why := pol.Denied()
						if why == "" {
							why = pol.ShowsEntry(id)
						}
						switch {
						case why == "" && status != 200:
							t.Errorf("%s entry %d of %s: %d %v, the policy shows it", reader.UserID, r, c.ID, status, body)
						case why != "" && status == 200:
							t.Errorf("%s entry %d of %s: shown, the policy says %q", reader.UserID, r, c.ID, why)
						case why == access.OtherAgency && status != 404:
							t.Errorf("%s entry %d of %s: %d for a case of another agency", reader.UserID, r, c.ID, status)
						}
					}
				case access.Replay:
					status, body := f.get(t, tok, "/v1/cases/"+c.ID.String()+"/replay?purpose=review&recorded_at="+url.QueryEscape("2030-01-01T00:00:00Z"))
					if status == 400 {
						// The server's clock (2024) makes 2030 the future: use the server's now.
						status, body = f.get(t, tok, "/v1/cases/"+c.ID.String()+"/replay?purpose=review&recorded_at="+url.QueryEscape("2024-01-02T03:04:05Z"))
					}
					if !statusFollows(t, reader, surface, pol, status, body) {
						continue
					}
					n := 0
					for _, r := range recs {
						if pol.ShowsEntry(r.ID) == "" {
							n++
						}
					}
					if got := len(body["entries"].([]any)); got != n {
						t.Errorf("%s replay of %s: %d entries, the policy shows %d", reader.UserID, c.ID, got, n)
					}
				}
				recsAfter := f.accessRecords(t)
				if len(recsAfter) == before {
					t.Errorf("%s %s of %s left no access record", reader.UserID, surface, c.ID)
					continue
				}
				if last := recsAfter[len(recsAfter)-1]; surface != access.Entry && last.Reason != pol.Denied() {
					t.Errorf("%s %s of %s: access record says %q, the policy %q", reader.UserID, surface, c.ID, last.Reason, pol.Denied())
				}
			}
		}
	}
	if shared == 0 {
		t.Fatal("fixture too thin: no case shared with cisss-lavallee")
	}
	if transferred == 0 {
		t.Fatal("fixture too thin: no case transferred to police-riviere")
	}
	// An unknown case is unknown on every surface.
	unknown := uuid.New().String()
	for _, path := range []string{"", "/timeline", "/entries/" + uuid.New().String(), "/replay"} {
		q := "?purpose=x"
		if path == "/replay" {
			q += "&recorded_at=2024-01-01T00:00:00Z"
		}
		if status, body := f.get(t, "aud-token-0123456789abcdefghi", "/v1/cases/"+unknown+path+q); status != 404 || body["code"] != "case_not_found" {
			t.Errorf("unknown case %q: %d %v", path, status, body)
		}
	}
}

// statusFollows checks a whole read's status against the policy and
// reports whether the read was allowed.
func statusFollows(t *testing.T, reader domain.Actor, surface access.Surface, pol access.Policy, status int, body map[string]any) bool {
	t.Helper()
	switch why := pol.Denied(); {
	case why == "" && status == 200:
		return true
	case why == access.OtherAgency && status == 404 && body["code"] == "case_not_found":
	case why != "" && why != access.OtherAgency && status == 403 && body["detail"] == why:
	default:
		t.Errorf("%s (%s, %s) %s: %d %v, the policy says %q", reader.UserID, reader.Role, reader.Agency, surface, status, body, why)
	}
	return false
}

// TestListsFollowThePolicy: a person search and a worklist show only rows of
// the cases open to the reader's agency; a list cursor carries its filters,
// so that following it keeps the list, and reusing it for another list is
// refused.
func TestListsFollowThePolicy(t *testing.T) {
	f := setup(t)
	const mtl = "mtl-officer-token-0123456789ab"
	tokens[mtl] = outsiders[mtl]
	t.Cleanup(func() { delete(tokens, mtl) })
	var person string
	for _, p := range f.cases[0].State.Parties {
		person = p.PersonID
	}
	if status, body := f.get(t, "officer-token-0123456789abcd", "/v1/people/"+person+"/cases?purpose=x"); status != 200 || len(body["cases"].([]any)) == 0 {
		t.Fatalf("search by the owning agency: %d %v", status, body)
	}
	if status, body := f.get(t, mtl, "/v1/people/"+person+"/cases?purpose=x"); status != 200 || len(body["cases"].([]any)) != 0 {
		t.Errorf("search by another agency: %d %v", status, body)
	}
	// A worklist read page by page keeps its assignee in the cursor.
	const worker, sw = "sw-9", "sw-token-0123456789abcdefghij"
	n := 0
	for _, k := range f.cases {
		for _, p := range k.State.Parties {
			if k.State.Status != domain.StatusOpen || n == 2 {
				break
			}
			n++
			f.do(t, sw, domain.ScheduleFollowUp{CommandHeader: domain.CommandHeader{CaseID: k.ID, CommandID: domain.EventID(k.ID, 7000+n), Actor: tokens[sw],
				OccurredAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), SourceSystem: "sw-app"},
				FollowUpScheduled: domain.FollowUpScheduled{FollowUpID: domain.EventID(k.ID, 8000+n), PartyID: p.ID, Kind: "call",
					DueBy: time.Date(2024, 1, 3, n, 0, 0, 0, time.UTC), Assignee: worker}})
		}
	}
	if _, err := f.runner.CatchUp(context.Background(), nil); err != nil || n < 2 {
		t.Fatalf("fixture: %d follow-ups scheduled, %v", n, err)
	}
	const sup = "sup-token-0123456789abcdefghi"
	status, body := f.get(t, sup, "/v1/worklist?purpose=x&limit=1&assignee="+worker)
	next, _ := body["next"].(string)
	if status != 200 || next == "" {
		t.Fatalf("first page: %d %v", status, body)
	}
	q, _ := url.ParseQuery(next)
	if q.Get("assignee") != worker {
		t.Errorf("next %q drops the assignee", next)
	}
	if status, body := f.get(t, sup, "/v1/worklist?purpose=x&"+next); status != 200 || body["assignee"] != worker {
		t.Errorf("following next: %d %v", status, body)
	}
	if status, body := f.get(t, sup, "/v1/worklist?purpose=x&limit=1&after="+url.QueryEscape(q.Get("after"))); status != 400 || body["code"] != "invalid_page" {
		t.Errorf("a cursor of %s's list reused for the reader's own: %d %v", worker, status, body)
	}
	if status, body := f.get(t, mtl, "/v1/worklist?purpose=x"); status != 200 || len(body["follow_ups"].([]any)) != 0 {
		t.Errorf("another agency's officer has a worklist on these cases: %d %v", status, body)
	}
}

// TestOneErrorEdge: the read models away is answered 503 with its own code
// and the request id, and logged once with that id; a refused command
// keeps its refusal code.
func TestOneErrorEdge(t *testing.T) {
	f := setup(t)
	var log bytes.Buffer
	srv := httptest.NewServer(api.New(f.db, f.store, api.NewTokens(tokens), nil).WithLogger(slog.New(slog.NewJSONHandler(&log, nil))))
	defer srv.Close()
	f.db.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/cases/"+f.cases[0].ID.String()+"?purpose=review", nil)
	req.Header.Set("Authorization", "Bearer sup-token-0123456789abcdefghi")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	id := resp.Header.Get("Request-Id")
	if resp.StatusCode != 503 || body["code"] != "readmodels_unavailable" || id == "" || body["request_id"] != id {
		t.Fatalf("read models closed: %d %v (Request-Id %q)", resp.StatusCode, body, id)
	}
	if lines := strings.Count(log.String(), `"request_id":"`+id+`"`); lines != 1 || !strings.Contains(log.String(), `"level":"WARN"`) {
		t.Errorf("%d log lines with the request id:\n%s", lines, log.String())
	}
}

// TestCommandsOfOtherAgencies: an officer of another police service can
// neither write to a case nor take it by a transfer, and learns nothing of
// it: every attempt is answered as for an unknown case.
func TestCommandsOfOtherAgencies(t *testing.T) {
	f := setup(t)
	const mtl = "mtl-officer-token-0123456789ab"
	tokens[mtl] = outsiders[mtl]
	t.Cleanup(func() { delete(tokens, mtl) })
	me := outsiders[mtl]
	for _, c := range f.cases[:3] {
		hdr := func(n int) domain.CommandHeader {
			return domain.CommandHeader{CaseID: c.ID, CommandID: domain.EventID(c.ID, 9000+n), Actor: me, OccurredAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), SourceSystem: "rms-mtl"}
		}
		for _, cmd := range []domain.Command{
			domain.AddNote{CommandHeader: hdr(1), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c.ID, 9100), Text: "x"}},
			domain.RequestTransfer{CommandHeader: hdr(2), TransferRequested: domain.TransferRequested{TransferID: domain.EventID(c.ID, 9101), ToAgency: me.Agency, Reason: "mine"}},
			domain.AcceptTransfer{CommandHeader: hdr(3), TransferAccepted: domain.TransferAccepted{TransferID: domain.EventID(c.ID, 9101)}},
			domain.CloseCase{CommandHeader: hdr(4), CaseClosed: domain.CaseClosed{Reason: "other", Justification: "x"}},
		} {
			name, body, err := domain.EncodeCommand(cmd)
			if err != nil {
				t.Fatal(err)
			}
			status, out := f.post(t, mtl, "/v1/cases/"+c.ID.String()+"/commands/"+name, body)
			if status != 404 || out["code"] != "case_not_found" {
				t.Errorf("%s on a case of police-lavallee by police-montreal: %d %v", name, status, out)
			}
		}
	}
}

// TestListReadsAndRefusalsAreRecorded is the role × agency × list table:
// every read of a list, a search or the dashboard, allowed or denied,
// leaves an access record saying which and why; requests without a valid
// credential (401) and commands for another actor (403) leave a security
// event naming the route pattern, never its values.
func TestListReadsAndRefusalsAreRecorded(t *testing.T) {
	f := setup(t)
	withOutsiders(t)
	lists := map[string]string{
		"referrals":     "/v1/referrals?purpose=review",
		"worklist":      "/v1/worklist?purpose=review&assignee=sw-9",
		"person_search": "/v1/people/MNI-000001/cases?purpose=review",
		"dashboard":     "/v1/dashboard?purpose=review",
	}
	allowed, denied := 0, 0
	for tok, reader := range tokens {
		for list, path := range lists {
			before := len(f.accessEvents(t))
			status, body := f.get(t, tok, path)
			after := f.accessEvents(t)
			var got []domain.ListViewed
			for _, e := range after[before:] {
				if v, ok := e.Data.(domain.ListViewed); ok {
					got = append(got, v)
					if e.Meta.Actor != reader {
						t.Errorf("%s %s: recorded as %+v", reader.UserID, list, e.Meta.Actor)
					}
				}
			}
			switch {
			case len(got) != 1 || got[0].List != list:
				t.Errorf("%s (%s, %s) %s: %d, list records %+v", reader.UserID, reader.Role, reader.Agency, list, status, got)
			case status == 403:
				denied++
				if !got[0].Denied || got[0].Reason != body["detail"] {
					t.Errorf("%s %s: denied %v, recorded %+v", reader.UserID, list, body, got[0])
				}
			case status == 200:
				allowed++
				if got[0].Denied || got[0].Purpose != "review" {
					t.Errorf("%s %s: allowed, recorded %+v", reader.UserID, list, got[0])
				}
			default:
				t.Errorf("%s %s: %d %v", reader.UserID, list, status, body)
			}
		}
	}
	if allowed == 0 || denied == 0 {
		t.Fatalf("the table is one-sided: %d allowed, %d denied", allowed, denied)
	}

	// 401: no token, a wrong token; the event holds the route pattern and
	// no value of the request.
	c := f.cases[0].ID.String()
	for _, tok := range []string{"", "not-a-token-of-anyone-at-all"} {
		before := len(f.accessEvents(t))
		if status, _ := f.get(t, tok, "/v1/cases/"+c+"/timeline?purpose=snooping"); status != 401 {
			t.Fatalf("token %q: %d", tok, status)
		}
		ev := f.accessEvents(t)[before:]
		if len(ev) != 1 {
			t.Fatalf("a 401 left %d access events", len(ev))
		}
		r, ok := ev[0].Data.(domain.AccessRefused)
		if !ok || r.Status != 401 || r.Route != "GET /v1/cases/{id}/timeline" || ev[0].Meta.Actor.UserID != "unauthenticated" {
			t.Errorf("401 recorded as %+v by %+v", ev[0].Data, ev[0].Meta.Actor)
		}
		raw, _ := domain.MarshalEvent(domain.Event{ID: ev[0].ID, CaseID: uuid.New(), Meta: ev[0].Meta, Data: ev[0].Data})
		if strings.Contains(string(raw), c) || strings.Contains(string(raw), "snooping") || (tok != "" && strings.Contains(string(raw), tok)) {
			t.Errorf("the security event keeps a value of the request: %s", raw)
		}
	}
	// 403: a command in another actor's name.
	before := len(f.accessEvents(t))
	open := f.cases[0].Steps[0].Command
	_, body, _ := domain.EncodeCommand(open)
	if status, resp := f.post(t, "officer-token-0123456789abcd", "/v1/cases/"+c+"/commands/open_case", body); status != 403 {
		t.Fatalf("a command as another actor: %d %v", status, resp)
	}
	ev := f.accessEvents(t)[before:]
	if len(ev) != 1 {
		t.Fatalf("a 403 left %d access events", len(ev))
	}
	if r, ok := ev[0].Data.(domain.AccessRefused); !ok || r.Status != 403 || ev[0].Meta.Actor.UserID != "off-1" {
		t.Errorf("403 recorded as %+v by %+v", ev[0].Data, ev[0].Meta.Actor)
	}
}

// TestOrderProbeLearnsNothing: a role that may not invoke an order gets the
// same answer for an existing case of another agency and for no case at
// all, so an order parameter cannot probe for cases.
func TestOrderProbeLearnsNothing(t *testing.T) {
	f := setup(t)
	withOutsiders(t)
	order := uuid.New().String()
	for _, id := range []string{f.cases[0].ID.String(), uuid.New().String()} {
		status, body := f.get(t, "mtl-officer-token-0123456789ab", "/v1/cases/"+id+"?purpose=x&order="+order)
		if status != 403 || body["detail"] != access.NotOrderRole {
			t.Errorf("case %s: %d %v", id, status, body)
		}
	}
}
