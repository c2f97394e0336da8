package api_test

import (
	"context"
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
