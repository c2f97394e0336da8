package domain_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

func TestRegistry(t *testing.T) {
	types := domain.EventTypes()
	seen := map[string]bool{}
	frozen := regexp.MustCompile(`^(case|access)\.[a-z][a-z_]*[a-z]$`)
	for _, typ := range types {
		if seen[typ] {
			t.Errorf("%s registered twice", typ)
		}
		seen[typ] = true
		if !frozen.MatchString(typ) {
			t.Errorf("%s is not a namespaced snake_case type string", typ)
		}
		s := domain.Spec(typ)
		if s == nil || s.Version < 1 || s.Type != typ {
			t.Errorf("%s: bad spec %+v", typ, s)
			continue
		}
		switch s.Compartment {
		case domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared:
		default:
			t.Errorf("%s: default compartment %q", typ, s.Compartment)
		}
	}
	if len(types) < 60 {
		t.Errorf("only %d event types registered", len(types))
	}
	names := map[string]bool{}
	for _, n := range domain.CommandNames() {
		if names[n] {
			t.Errorf("command %s registered twice", n)
		}
		names[n] = true
	}
}

// oneEvent returns a real event of the given type from generated cases.
func oneEvent(t *testing.T, typ string) domain.Event {
	t.Helper()
	cases, err := gen.New(3).Cases(50)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		for _, e := range c.Events() {
			if e.Type() == typ {
				return e
			}
		}
	}
	t.Fatalf("no %s generated", typ)
	return domain.Event{}
}

func TestUnmarshalEventRefusals(t *testing.T) {
	call := oneEvent(t, "case.call_received")
	good, err := domain.MarshalEvent(call)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Jane Doe 514-555-0199"
	edit := func(old, new string) string {
		if !strings.Contains(string(good), old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(string(good), old, new, 1)
	}
	tests := []struct {
		name  string
		in    string
		err   error
		field string
	}{
		{"unknown type", edit(`"type":"case.call_received"`, `"type":"case.call_recieved"`), domain.ErrUnknownEventType, "type"},
		{"newer schema", edit(`"schema_version":1`, `"schema_version":9`), domain.ErrUnknownEventType, "schema_version"},
		{"zero schema", edit(`"schema_version":1`, `"schema_version":0`), domain.ErrUnknownEventType, "schema_version"},
		{"unknown envelope field", edit(`{"id"`, `{"nickname":"`+secret+`","id"`), domain.ErrMalformed, "nickname"},
		{"unknown data field", edit(`"channel"`, `"victim_name":"`+secret+`","channel"`), domain.ErrMalformed, "data.victim_name"},
		{"unknown meta field", edit(`"source_system"`, `"mood":"x","source_system"`), domain.ErrMalformed, "meta.mood"},
		{"wrong JSON type", edit(`"priority":`, `"priority":"`+secret+`","x":`), domain.ErrMalformed, "data.priority"},
		{"wrong enum", edit(`"channel":"`, `"channel":"`+secret+`","y":"`), domain.ErrMalformed, ""},
		{"bad time", edit(`"occurred_at":"`, `"occurred_at":"`+secret+`","z":"`), domain.ErrMalformed, "meta.occurred_at"},
		{"bad uuid", edit(`"id":"`, `"id":"`+secret+`","w":"`), domain.ErrMalformed, "id"},
		{"missing id", edit(`"id":"`+call.ID.String()+`",`, ``), domain.ErrInvalidField, "id"},
		{"missing data", edit(`"data":`, `"datum":`), domain.ErrMalformed, "datum"},
		{"trailing data", string(good) + `{}`, domain.ErrMalformed, "(body)"},
		{"truncated", string(good[:len(good)/2]), domain.ErrMalformed, "(body)"},
		{"empty", ``, domain.ErrMalformed, "(body)"},
		{"not an object", `[1,2,3]`, domain.ErrMalformed, "(body)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.UnmarshalEvent([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			var fe *domain.FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Fatalf("got field %q (%v), want %q", fieldOf(err), err, tt.field)
			}
			if strings.Contains(err.Error(), "Jane") || strings.Contains(err.Error(), "514-555") {
				t.Fatalf("error repeats the value: %v", err)
			}
		})
	}
}

func fieldOf(err error) string {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// TestDecodeDataRules shows that a decoded event is held to its field rules:
// an enum outside its set, a negative count, a score above 100, a missing
// required field.
func TestDecodeDataRules(t *testing.T) {
	tests := []struct {
		typ, data, field string
	}{
		{"case.call_received", `{"cad_ref":"C1","channel":"carrier_pigeon","nature_code":"VC","priority":1,"conjugal_context":true}`, "channel"},
		{"case.call_received", `{"cad_ref":"C1","channel":"911","nature_code":"VC","priority":9,"conjugal_context":true}`, "priority"},
		{"case.call_received", `{"channel":"911","nature_code":"VC","priority":1,"conjugal_context":true}`, "cad_ref"},
		{"case.address_history_checked", `{"prior_calls":-3}`, "prior_calls"},
		{"case.risk_assessment_completed", `{"assessment_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","instrument":"odara","party_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","informant":"victim","score":-1,"band":"low"}`, "score"},
		{"case.risk_assessment_completed", `{"assessment_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","instrument":"odara","party_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","informant":"victim","score":1000,"band":"low"}`, "score"},
		{"case.statement_taken", `{"statement_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","party_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","kind":"video","media_ref":"m","sha256":"abc"}`, "sha256"},
		{"case.conditions_imposed", `{"condition_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","kind":"peace_bond","bound_party_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","protected_party_ids":["0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2d"],"issuer":"court","starts_at":"1900-01-01T00:00:00Z"}`, "starts_at"},
	}
	for _, tt := range tests {
		_, err := domain.DecodeData(tt.typ, domain.Spec(tt.typ).Version, []byte(tt.data))
		if !errors.Is(err, domain.ErrInvalidField) || fieldOf(err) != tt.field {
			t.Errorf("%s %s: got %v, want invalid %s", tt.typ, tt.data, err, tt.field)
		}
	}
}

func TestUpcastRiskAssessmentV1(t *testing.T) {
	v1 := `{"assessment_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","instrument":"odara","instrument_version":"1","party_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c","informant":"police_records","score":5,"level":"moderate"}`
	d, err := domain.DecodeData("case.risk_assessment_completed", 1, []byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	a, ok := d.(domain.RiskAssessmentCompleted)
	if !ok {
		t.Fatalf("decoded %T", d)
	}
	if a.Band != domain.RiskMedium || a.Score != 5 || a.Instrument != domain.InstrumentODARA || a.Items != nil {
		t.Fatalf("upcast gave %+v", a)
	}
	// The same JSON read as version 2 is refused: level is not a v2 field.
	if _, err := domain.DecodeData("case.risk_assessment_completed", 2, []byte(v1)); !errors.Is(err, domain.ErrMalformed) || fieldOf(err) != "level" {
		t.Fatalf("v1 bytes as v2: %v", err)
	}
	// A v1 record with a v2 field is not a v1 record.
	bad := strings.Replace(v1, `"level":"moderate"`, `"band":"medium"`, 1)
	if _, err := domain.DecodeData("case.risk_assessment_completed", 1, []byte(bad)); !errors.Is(err, domain.ErrMalformed) {
		t.Fatalf("v2 bytes as v1: %v", err)
	}
	// And a level outside v1's set fails the v2 rules after upcasting.
	worse := strings.Replace(v1, `"moderate"`, `"extreme"`, 1)
	if _, err := domain.DecodeData("case.risk_assessment_completed", 1, []byte(worse)); !errors.Is(err, domain.ErrInvalidField) || fieldOf(err) != "band" {
		t.Fatalf("unknown v1 level: %v", err)
	}
}

func TestDecodeCommand(t *testing.T) {
	in := `{"case_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","command_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c",
	"actor":{"user_id":"off-1","role":"officer","agency":"police-lavallee"},"occurred_at":"2026-03-02T10:00:00Z","source_system":"cad",
	"module":"victim_support","agency":"police-lavallee"}`
	c, err := domain.DecodeCommand("open_case", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	open, ok := c.(domain.OpenCase)
	if !ok || open.Module != "victim_support" || open.Actor.UserID != "off-1" {
		t.Fatalf("decoded %#v", c)
	}
	ev, err := domain.Decide(domain.State{}, c, time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC))
	if err != nil || len(ev) != 1 || ev[0].Type() != "case.opened" {
		t.Fatalf("decide: %v %v", ev, err)
	}
	name, b, err := domain.EncodeCommand(c)
	if err != nil || name != "open_case" {
		t.Fatal(name, err)
	}
	if again, err := domain.DecodeCommand(name, b); err != nil || !reflect.DeepEqual(again, c) {
		t.Fatalf("round trip: %v %v", again, err)
	}

	if _, err := domain.DecodeCommand("open_the_case", []byte(in)); !errors.Is(err, domain.ErrUnknownCommand) {
		t.Fatalf("unknown command: %v", err)
	}
	extra := strings.Replace(in, `"module"`, `"victim_address":"12 rue X","module"`, 1)
	if _, err := domain.DecodeCommand("open_case", []byte(extra)); !errors.Is(err, domain.ErrMalformed) || fieldOf(err) != "victim_address" {
		t.Fatalf("unknown field: %v", err)
	}
	typed := strings.Replace(in, `"module":"victim_support"`, `"module":7`, 1)
	if _, err := domain.DecodeCommand("open_case", []byte(typed)); !errors.Is(err, domain.ErrMalformed) || fieldOf(err) != "module" {
		t.Fatalf("wrong type: %v", err)
	}
}

func TestEventLogValueHidesPayload(t *testing.T) {
	e := oneEvent(t, "case.call_received")
	v := e.LogValue().String()
	addr := e.Data.(domain.CallReceived).Address
	if addr == "" || strings.Contains(v, addr) || !strings.Contains(v, e.ID.String()) {
		t.Fatalf("log value %q", v)
	}
}
