package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/caseledger/caseledger/services/api"
	"github.com/caseledger/caseledger/services/ledger"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// do posts a command as the token's principal and returns its first event.
func (f *fixture) do(t *testing.T, token string, cmd domain.Command) string {
	t.Helper()
	name, body, err := domain.EncodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	status, out := f.post(t, token, "/v1/cases/"+cmd.Head().CaseID.String()+"/commands/"+name, body)
	if status != 201 {
		t.Fatalf("%s: %d %v", name, status, out)
	}
	return out["event_ids"].([]any)[0].(string)
}

// TestEntriesOrdersAndReclassification: personal fields come from the
// record to readers entitled to the entry's current compartment; sealed
// entries open only under a production order recorded on the case, to the
// roles that may invoke one; a reclassified entry leaves the view of those
// who may no longer see it; redacted fields are withheld from everyone.
// Every read, allowed or denied, leaves one access record first.
func TestEntriesOrdersAndReclassification(t *testing.T) {
	f := setup(t)
	var c uuid.UUID
	for _, gc := range f.cases {
		held := false
		for _, h := range gc.State.Holds {
			held = held || h.Active
		}
		if !held {
			c = gc.ID
			break
		}
	}
	if c == uuid.Nil {
		t.Fatal("every generated case is under a legal hold")
	}
	n := 800
	hdr := func(token string, comp domain.Compartment) domain.CommandHeader {
		n++
		return domain.CommandHeader{CaseID: c, CommandID: domain.EventID(c, n), Actor: tokens[token], OccurredAt: time.Date(2024, 1, 2, 2, 0, 0, 0, time.UTC),
			SourceSystem: "records", Compartment: comp}
	}
	const inv, sup, sw, off, aud = "inv-token-0123456789abcdefghi", "sup-token-0123456789abcdefghi", "sw-token-0123456789abcdefghij", "officer-token-0123456789abcd", "aud-token-0123456789abcdefghi"
	sealed := f.do(t, inv, domain.AddNote{CommandHeader: hdr(inv, domain.CompartmentSealed), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c, 901), Text: "Youth court record, sealed."}})
	shared := f.do(t, off, domain.AddNote{CommandHeader: hdr(off, domain.CompartmentShared), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c, 902), Text: "Victim staying with her sister."}})
	swNote := f.do(t, sw, domain.AddNote{CommandHeader: hdr(sw, ""), NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c, 903), Text: "Disclosed past assaults."}})
	// The social worker narrows the shared note to social work; the
	// supervisor redacts the social worker's note text.
	f.do(t, sw, domain.CorrectEntry{CommandHeader: hdr(sw, domain.CompartmentSocialWork), EntryCorrected: domain.EntryCorrected{TargetEventID: uuid.MustParse(shared),
		Changes: []domain.FieldChange{{Field: "text", Value: "Victim staying with a relative."}}, Reason: "address detail", NewCompartment: domain.CompartmentSocialWork}})
	f.do(t, sup, domain.RedactEntry{CommandHeader: hdr(sup, domain.CompartmentSocialWork), EntryRedacted: domain.EntryRedacted{TargetEventID: uuid.MustParse(swNote), Fields: []string{"text"}, LegalBasis: "third-party information"}})
	order := domain.EventID(c, 950)
	unknown := domain.EventID(c, 951)
	if _, err := f.runner.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	f.do(t, inv, domain.ReceiveProductionOrder{CommandHeader: hdr(inv, ""), ProductionOrderReceived: domain.ProductionOrderReceived{
		OrderID: order, Court: "Cour du Québec", FileRef: "500-01-000001-24", Scope: "sealed entries", IssuedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}})

	base := "/v1/cases/" + c.String()
	entry := func(id string) string { return base + "/entries/" + id + "?purpose=disclosure" }
	tl := base + "/timeline?purpose=disclosure&limit=500"
	tests := []struct {
		name, token, path string
		status            int
		denied            bool
		order             uuid.UUID
		check             func(t *testing.T, body map[string]any)
	}{
		{"supervisor timeline hides sealed", sup, tl, 200, false, uuid.Nil, func(t *testing.T, b map[string]any) {
			if timelineHas(b, sealed) {
				t.Error("sealed entry shown without an order")
			}
		}},
		{"order not recorded", sup, tl + "&order=" + unknown.String(), 403, true, unknown, nil},
		{"malformed order", sup, tl + "&order=nope", 400, false, uuid.Nil, nil},
		{"officer may not invoke an order", off, tl + "&order=" + order.String(), 403, true, order, nil},
		{"the order's own recorder may not invoke it", inv, tl + "&order=" + order.String(), 403, true, order, nil},
		{"supervisor timeline under order", sup, tl + "&order=" + order.String(), 200, false, order, func(t *testing.T, b map[string]any) {
			if !timelineHas(b, sealed) {
				t.Error("sealed entry missing under a recorded order")
			}
		}},
		{"sealed entry without order", aud, entry(sealed), 403, true, uuid.Nil, nil},
		{"sealed entry under order", aud, entry(sealed) + "&order=" + order.String(), 200, false, order, func(t *testing.T, b map[string]any) {
			if b["recorded"].(map[string]any)["text"] != "Youth court record, sealed." || b["compartment"] != "sealed" {
				t.Errorf("sealed entry: %v", b)
			}
		}},
		{"officer timeline after reclassification", off, tl, 200, false, uuid.Nil, func(t *testing.T, b map[string]any) {
			if timelineHas(b, shared) {
				t.Error("a note narrowed to social work is still shown to police")
			}
		}},
		{"officer entry after reclassification", off, entry(shared), 403, true, uuid.Nil, nil},
		{"social worker sees the reclassified note and its correction", sw, entry(shared), 200, false, uuid.Nil, func(t *testing.T, b map[string]any) {
			cs := b["corrections"].([]any)
			if b["compartment"] != "social_work" || b["recorded_compartment"] != "shared" || len(cs) != 1 ||
				b["recorded"].(map[string]any)["text"] != "Victim staying with her sister." {
				t.Errorf("reclassified entry: %v", b)
			}
		}},
		{"redacted field withheld", sw, entry(swNote), 200, false, uuid.Nil, func(t *testing.T, b map[string]any) {
			if b["recorded"].(map[string]any)["text"] != nil || len(b["redactions"].([]any)) != 1 || strings.Contains(stringOf(b), "Disclosed past") {
				t.Errorf("redacted entry: %v", b)
			}
		}},
		{"no such entry", sw, entry(domain.EventID(c, 999).String()), 404, false, uuid.Nil, nil},
		{"malformed entry id", sw, base + "/entries/x?purpose=disclosure", 400, false, uuid.Nil, nil},
		{"entry with an unknown parameter", sw, entry(swNote) + "&limit=5", 400, false, uuid.Nil, nil},
	}
	for _, tt := range tests {
		before := len(f.accessRecords(t))
		status, body := f.get(t, tt.token, tt.path)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%v)", tt.name, status, tt.status, body)
			continue
		}
		if status >= 400 && (strings.Contains(stringOf(body), "Youth") || strings.Contains(stringOf(body), "sister")) {
			t.Errorf("%s: the error repeats case data", tt.name)
		}
		if tt.check != nil {
			tt.check(t, body)
		}
		after := f.accessRecords(t)
		if status == 400 {
			if len(after) != before {
				t.Errorf("%s: a malformed request left an access record", tt.name)
			}
			continue
		}
		if len(after) != before+1 {
			t.Errorf("%s: %d access records added", tt.name, len(after)-before)
			continue
		}
		if got := after[len(after)-1]; got.Denied != tt.denied || got.OrderID != tt.order || got.CaseID != c || (got.Denied && got.Reason == "") {
			t.Errorf("%s: access record %+v", tt.name, got)
		}
	}
}

func timelineHas(body map[string]any, eventID string) bool {
	entries, _ := body["entries"].([]any)
	for _, e := range entries {
		if e.(map[string]any)["event_id"] == eventID {
			return true
		}
	}
	return false
}

func stringOf(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				b.WriteString(k + "=")
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			b.WriteString(v + " ")
		}
	}
	walk(v)
	return b.String()
}

// TestCaseStateLists: the case read carries its parties, risk history,
// referrals, open follow-ups and items, each limited to the compartments
// the role may see: a follow-up the social worker filed as social work
// stays out of the officer's case view.
func TestCaseStateLists(t *testing.T) {
	f := setup(t)
	var gc = f.cases[0]
	for _, k := range f.cases {
		if k.State.Status == domain.StatusOpen {
			gc = k
			break
		}
	}
	if gc.State.Status != domain.StatusOpen {
		t.Fatal("no open case in the fixture")
	}
	c := gc.ID
	var victim uuid.UUID
	for _, p := range gc.State.Parties {
		if p.Role == domain.PartyVictim {
			victim = p.ID
		}
	}
	const sw, off = "sw-token-0123456789abcdefghij", "officer-token-0123456789abcd"
	fu := domain.EventID(c, 970)
	f.do(t, sw, domain.ScheduleFollowUp{CommandHeader: domain.CommandHeader{CaseID: c, CommandID: domain.EventID(c, 971), Actor: tokens[sw],
		OccurredAt: time.Date(2024, 1, 2, 1, 0, 0, 0, time.UTC), SourceSystem: "sw-app", Compartment: domain.CompartmentSocialWork},
		FollowUpScheduled: domain.FollowUpScheduled{FollowUpID: fu, PartyID: victim, Kind: "visit", DueBy: time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), Assignee: "sw-1"}})
	if _, err := f.runner.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	path := "/v1/cases/" + c.String() + "?purpose=review"
	has := func(body map[string]any, list, key, id string) (map[string]any, bool) {
		items, _ := body[list].([]any)
		for _, it := range items {
			if m := it.(map[string]any); m[key] == id {
				return m, true
			}
		}
		return nil, false
	}
	status, swView := f.get(t, sw, path)
	if status != 200 {
		t.Fatalf("social worker: %d %v", status, swView)
	}
	row, ok := has(swView, "follow_ups", "follow_up_id", fu.String())
	if !ok || row["overdue"] != true || row["compartment"] != "social_work" {
		t.Errorf("the social worker's own follow-up: %v (overdue against the server's clock, 2024-01-02)", row)
	}
	if len(swView["party_list"].([]any)) != len(gc.State.Parties) {
		t.Errorf("party list %v, the case has %d parties", swView["party_list"], len(gc.State.Parties))
	}
	status, offView := f.get(t, off, path)
	if status != 200 {
		t.Fatalf("officer: %d %v", status, offView)
	}
	if _, ok := has(offView, "follow_ups", "follow_up_id", fu.String()); ok {
		t.Error("an officer sees a social-work follow-up")
	}
	for _, list := range []string{"party_list", "risk_history", "referrals", "follow_ups", "items"} {
		items, ok := offView[list].([]any)
		if !ok {
			t.Errorf("%s missing from the case view", list)
		}
		for _, it := range items {
			if comp, ok := it.(map[string]any)["compartment"]; ok && comp != "police" && comp != "shared" {
				t.Errorf("officer's %s holds a %v entry", list, comp)
			}
		}
	}
	if len(gc.State.RiskHistory) > 0 && len(offView["risk_history"].([]any)) == 0 {
		t.Error("the risk history is empty")
	}
	// The counts are the role's own: no number hints at a hidden entry.
	for count, list := range map[string]string{"open_follow_ups": "follow_ups", "parties": "party_list"} {
		for who, view := range map[string]map[string]any{"officer": offView, "social worker": swView} {
			if view[count] != float64(len(view[list].([]any))) {
				t.Errorf("%s's %s = %v, but the list holds %d", who, count, view[count], len(view[list].([]any)))
			}
		}
	}
}

// TestWorklist: a worker's open follow-ups by due date, overdue first, in
// pages; another worker's list only for supervisors and auditors; every
// case a page reveals recorded.
func TestWorklist(t *testing.T) {
	f := setup(t)
	const sup, sw = "sup-token-0123456789abcdefghi", "sw-token-0123456789abcdefghij"
	// Follow-ups for sw-1 on the open cases, some due before the server's
	// clock (2024-01-02 03:04) and some after.
	n := 0
	for _, k := range f.cases {
		if k.State.Status != domain.StatusOpen {
			continue
		}
		for _, p := range k.State.Parties {
			n++
			f.do(t, sw, domain.ScheduleFollowUp{CommandHeader: domain.CommandHeader{CaseID: k.ID, CommandID: domain.EventID(k.ID, 990+n), Actor: tokens[sw],
				OccurredAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), SourceSystem: "sw-app"},
				FollowUpScheduled: domain.FollowUpScheduled{FollowUpID: domain.EventID(k.ID, 1990+n), PartyID: p.ID, Kind: "call",
					DueBy: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n*7) * time.Hour), Assignee: "sw-1"}})
		}
	}
	if _, err := f.runner.CatchUp(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	worker := "sw-1"
	var want int
	if err := f.db.QueryRow(`SELECT count(*) FROM worklist WHERE assignee = 'sw-1'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if want < 3 {
		t.Fatalf("fixture too thin: %s has %d open follow-ups", worker, want)
	}
	var got []map[string]any
	path := "/v1/worklist?purpose=caseload%20review&assignee=" + worker + "&limit=1"
	for pages := 0; path != "" && pages < 100; pages++ {
		before := len(f.accessRecords(t))
		status, body := f.get(t, sup, path)
		if status != 200 {
			t.Fatalf("%s: %d %v", path, status, body)
		}
		rows := body["follow_ups"].([]any)
		for _, r := range rows {
			got = append(got, r.(map[string]any))
		}
		if after := len(f.accessRecords(t)); after != before+len(rows) {
			t.Errorf("page of %d rows left %d access records", len(rows), after-before)
		}
		path = ""
		if next, ok := body["next"].(string); ok {
			path = "/v1/worklist?purpose=caseload%20review&assignee=" + worker + "&" + next
		}
	}
	if len(got) != want {
		t.Fatalf("%d follow-ups over the pages, the read model holds %d", len(got), want)
	}
	sawDue := false
	for i, r := range got {
		if i > 0 && r["due_by"].(string) < got[i-1]["due_by"].(string) {
			t.Errorf("row %d due %v before row %d's %v", i, r["due_by"], i-1, got[i-1]["due_by"])
		}
		if r["overdue"] == false {
			sawDue = true
		} else if sawDue {
			t.Errorf("an overdue follow-up after one not yet due")
		}
	}
	if !sawDue || got[0]["overdue"] != true {
		t.Errorf("the fixture should hold overdue follow-ups and ones not yet due")
	}
	if status, body := f.get(t, sw, "/v1/worklist?purpose=x&assignee=sw-07"); status != 403 || body["code"] != "forbidden" {
		t.Errorf("a social worker read another's list: %d %v", status, body)
	}
	if status, body := f.get(t, sw, "/v1/worklist?purpose=mine"); status != 200 || body["assignee"] != "sw-1" || len(body["follow_ups"].([]any)) != want {
		t.Errorf("own list: %d %v", status, body)
	}
	if status, body := f.get(t, sup, "/v1/worklist?purpose=x&after=not!base64"); status != 400 {
		t.Errorf("a malformed cursor: %d %v", status, body)
	}
}

// TestReplayEndpoint: an auditor's two past views of a case part exactly at
// an event recorded after it occurred; other roles and malformed cuts are
// refused.
func TestReplayEndpoint(t *testing.T) {
	f := setup(t)
	const aud = "aud-token-0123456789abcdefghi"
	c := f.cases[1]
	evs := c.Events()
	var late domain.Event
	for _, e := range evs[1:] {
		if e.Meta.RecordedAt.Sub(e.Meta.OccurredAt) > time.Minute && e.Meta.Compartment != domain.CompartmentSealed {
			late = e
			break
		}
	}
	if late.ID == uuid.Nil {
		t.Fatal("no event recorded after it occurred")
	}
	mid := late.Meta.OccurredAt.Add(late.Meta.RecordedAt.Sub(late.Meta.OccurredAt) / 2).UTC().Format(time.RFC3339Nano)
	base := "/v1/cases/" + c.ID.String() + "/replay?purpose=audit&"
	before := len(f.accessRecords(t))
	status, rec := f.get(t, aud, base+"recorded_at="+mid)
	if status != 200 {
		t.Fatalf("as recorded: %d %v", status, rec)
	}
	status, occ := f.get(t, aud, base+"occurred_at="+mid)
	if status != 200 {
		t.Fatalf("as occurred: %d %v", status, occ)
	}
	if timelineHas(rec, late.ID.String()) || !timelineHas(occ, late.ID.String()) {
		t.Errorf("the late event %s: in the as-recorded view %v, in the as-occurred view %v", late.Type(), timelineHas(rec, late.ID.String()), timelineHas(occ, late.ID.String()))
	}
	if got := len(f.accessRecords(t)) - before; got != 2 {
		t.Errorf("%d access records for two past views", got)
	}
	// A supervisor's attempt is refused and recorded.
	before = len(f.accessRecords(t))
	if status, _ := f.get(t, "sup-token-0123456789abcdefghi", base+"recorded_at="+mid); status != 403 {
		t.Errorf("a supervisor's past view: %d", status)
	}
	if recs := f.accessRecords(t); len(recs) != before+1 || !recs[len(recs)-1].Denied {
		t.Error("the refused past view left no denied access record")
	}
	// An entry sealed after the cut stays out of the past view.
	inv := tokens["inv-token-0123456789abcdefghi"]
	f.do(t, "inv-token-0123456789abcdefghi", domain.CorrectEntry{CommandHeader: domain.CommandHeader{CaseID: c.ID, CommandID: domain.EventID(c.ID, 1300), Actor: inv,
		OccurredAt: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), SourceSystem: "records"},
		EntryCorrected: domain.EntryCorrected{TargetEventID: late.ID, Changes: []domain.FieldChange{}, Reason: "sealed by order", NewCompartment: domain.CompartmentSealed}})
	after := late.Meta.RecordedAt.Add(time.Second).UTC().Format(time.RFC3339Nano)
	if _, then := f.get(t, aud, base+"recorded_at="+after); timelineHas(then, late.ID.String()) {
		t.Error("an entry sealed after the cut shows in the past view")
	}
	for _, tt := range []struct {
		token, query string
		status       int
		code         string
	}{
		{"sup-token-0123456789abcdefghi", "recorded_at=" + mid, 403, "forbidden"},
		{aud, "recorded_at=" + mid + "&occurred_at=" + mid, 400, "invalid_cut"},
		{aud, "", 400, "invalid_cut"},
		{aud, "recorded_at=last%20tuesday", 400, "invalid_time"},
		{aud, "recorded_at=2999-01-01T00:00:00Z", 400, "future_time"},
		{aud, "occurred_at=1999-01-01T00:00:00Z", 422, "before_case"},
		{aud, "position=zero", 400, "invalid_position"},
	} {
		status, body := f.get(t, tt.token, base+tt.query)
		if status != tt.status || body["code"] != tt.code {
			t.Errorf("%s: %d %v, want %d %s", tt.query, status, body, tt.status, tt.code)
		}
	}
}

// TestExportEndpoint: an auditor downloads a case's bundle as a zip whose
// manifest has the SHA-256 the response names; others are refused, and a
// case whose last events are not yet under a checkpoint gets 409.
func TestExportEndpoint(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	keys, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	svc := &ledger.Service{Log: tree, Keys: keys, Store: f.store}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(f.db, f.store, api.NewTokens(tokens), func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }).
		WithLedger(&api.Ledger{Tree: (&ledger.Follower{Store: f.store}).Fresh, Keys: keys}))
	defer srv.Close()
	get := func(token, path string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	c := f.cases[2].ID
	resp := get("aud-token-0123456789abcdefghi", "/v1/cases/"+c.String()+"/export?purpose=disclosure")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s", resp.StatusCode, body)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, zf := range zr.File {
		names[zf.Name] = true
		if zf.Name == "manifest.json" {
			rc, _ := zf.Open()
			raw, _ := io.ReadAll(rc)
			rc.Close()
			sum := sha256.Sum256(raw)
			if hex.EncodeToString(sum[:]) != resp.Header.Get("Caseledger-Bundle-SHA256") {
				t.Error("the manifest in the zip is not the one the response names")
			}
		}
	}
	for _, want := range []string{"manifest.json", "checkpoint.note", "access.json", "report.html", "report.pdf", "events/000000.data"} {
		if !names[want] {
			t.Errorf("the zip lacks %s", want)
		}
	}
	if resp := get("sup-token-0123456789abcdefghi", "/v1/cases/"+c.String()+"/export?purpose=x"); resp.StatusCode != 403 {
		t.Errorf("a supervisor exported: %d", resp.StatusCode)
	}
	// The access record of the export itself is after the checkpoint,
	// but it is not a case event: a note on the case is.
	f.do(t, "officer-token-0123456789abcd", domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: c, CommandID: domain.EventID(c, 1200),
		Actor: tokens["officer-token-0123456789abcd"], OccurredAt: time.Date(2024, 1, 2, 3, 0, 0, 0, time.UTC), SourceSystem: "records"},
		NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c, 1201), Text: "Later."}})
	if resp := get("aud-token-0123456789abcdefghi", "/v1/cases/"+c.String()+"/export?purpose=disclosure"); resp.StatusCode != 409 {
		t.Errorf("a case with events after the last checkpoint: %d", resp.StatusCode)
	}
}
