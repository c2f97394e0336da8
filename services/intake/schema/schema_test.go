package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/relay"
	"github.com/google/uuid"
)

// repoRoot is the repository root, seen from this package's directory.
const repoRoot = "../../.."

const regenerate = "run `go run ./cmd/caseledger schemas` and check in docs/"

func generate(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestCheckedInFilesAreCurrent fails when a Go type changed and docs/ was
// not regenerated.
func TestCheckedInFilesAreCurrent(t *testing.T) {
	files := generate(t)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
		switch {
		case os.IsNotExist(err):
			t.Errorf("%s is missing: %s", name, regenerate)
		case err != nil:
			t.Error(err)
		case !bytes.Equal(got, files[name]):
			t.Errorf("%s is out of date with the Go types: %s", name, regenerate)
		}
	}
	// A file for a command or event the catalogue no longer has.
	for _, dir := range []string{SchemaDir, CommandSchemaDir, EventSchemaDir} {
		entries, err := os.ReadDir(filepath.Join(repoRoot, filepath.FromSlash(dir)))
		if os.IsNotExist(err) {
			continue // reported above
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := path.Join(dir, e.Name())
			if _, ok := files[name]; !ok && !(e.IsDir() && (name == CommandSchemaDir || name == EventSchemaDir)) {
				t.Errorf("%s is not generated any more: %s (it removes stale command and event files)", name, regenerate)
			}
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := generate(t), generate(t)
	if len(a) != len(b) {
		t.Fatalf("%d files, then %d", len(a), len(b))
	}
	for name := range a {
		if !bytes.Equal(a[name], b[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
	if want := len(domain.CommandNames()) + len(domain.EventTypes()) + 3; len(a) != want {
		t.Errorf("%d files, want %d (a schema per command and event type, outcome, relayed event, AsyncAPI)", len(a), want)
	}
}

// validators compiles every JSON Schema file Generate returns.
func validators(t *testing.T) map[string]*validator {
	t.Helper()
	out := map[string]*validator{}
	for name, b := range generate(t) {
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		v, err := compile(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = v
	}
	return out
}

// TestGeneratedCasesValidate checks that what the Go code writes validates:
// every command of generated case lives, every event payload, every event as
// the relay publishes it, and ingest's outcomes.
func TestGeneratedCasesValidate(t *testing.T) {
	vs := validators(t)
	cases, err := gen.New(1).Cases(20)
	if err != nil {
		t.Fatal(err)
	}
	commands, events := map[string]int{}, map[string]int{}
	for _, c := range cases {
		var prev eventstore.Hash
		version := int64(0)
		for _, step := range c.Steps {
			name, body, err := domain.EncodeCommand(step.Command)
			if err != nil {
				t.Fatal(err)
			}
			commands[name]++
			if err := vs[CommandFile(name)].Validate(body); err != nil {
				t.Errorf("case %s: %s does not validate: %v", c.ID, name, err)
			}
			for _, e := range step.Events {
				typ, _, data, err := domain.EncodeData(e.Data)
				if err != nil {
					t.Fatal(err)
				}
				events[typ]++
				if err := vs[EventFile(typ)].Validate(data); err != nil {
					t.Errorf("case %s: %s does not validate: %v", c.ID, typ, err)
				}
				// The event as the relay publishes it (relay.publish).
				rec, err := casefile.Encode(e)
				if err != nil {
					t.Fatal(err)
				}
				hash := eventstore.Hash(sha256.Sum256(append(prev[:], rec.Data...)))
				msg, err := json.Marshal(relay.Message{
					ID: e.ID.String(), CaseID: e.CaseID.String(), Stream: domain.StreamName(e.CaseID), Version: version,
					Position: eventstore.Position{Commit: uint64(version + 1)}.String(), Type: rec.Type, RecordedAt: e.Meta.RecordedAt,
					Metadata: rec.Metadata, Data: rec.Data, PrevHash: prev.String(), Hash: hash.String(),
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := vs[RelayedEventFile].Validate(msg); err != nil {
					t.Errorf("case %s: relayed %s does not validate: %v", c.ID, typ, err)
				}
				prev, version = hash, version+1
			}
		}
	}
	// Commands the generated lives happen not to reach, and their payloads.
	for _, cmd := range examples() {
		name, body, err := domain.EncodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := vs[CommandFile(name)].Validate(body); err != nil {
			t.Errorf("example %s does not validate: %v", name, err)
		}
		commands[name]++
		payload := reflect.ValueOf(cmd).Field(1).Interface() // after the header
		typ, _, data, err := domain.EncodeData(payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := vs[EventFile(typ)].Validate(data); err != nil {
			t.Errorf("example %s does not validate: %v", typ, err)
		}
		events[typ]++
	}
	for _, name := range domain.CommandNames() {
		if commands[name] == 0 {
			t.Logf("no generated %s command to check", name)
		}
	}
	for _, typ := range caseEventTypes() {
		if events[typ] == 0 {
			t.Logf("no generated %s event to check", typ)
		}
	}
	t.Logf("checked %d command kinds and %d event kinds", len(commands), len(events))

	id := uuid.New()
	outcomes := []natsbus.Outcome{
		{Accepted: true, Command: "open_case", CommandID: id.String(), CaseID: id.String(), Stream: domain.StreamName(id),
			FirstVersion: 0, LastVersion: 0, EventIDs: []string{domain.EventID(id, 0).String()}},
		{Accepted: true, Command: "add_note", CommandID: id.String(), CaseID: id.String(), Stream: domain.StreamName(id),
			FirstVersion: 7, LastVersion: 8, EventIDs: []string{domain.EventID(id, 0).String(), domain.EventID(id, 1).String()}, Duplicate: true},
		{Command: "unknown", Code: "unknown_command", Field: "command", Reason: "not in the catalogue"},
	}
	for _, code := range rejectionCodes {
		outcomes = append(outcomes, natsbus.Outcome{Command: "send_referral", CommandID: id.String(), Code: code, Reason: "a reason"})
	}
	for _, o := range outcomes {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := vs[OutcomeFile].Validate(b); err != nil {
			t.Errorf("outcome %s does not validate: %v", b, err)
		}
	}
}

// examples are commands that gen.New(1).Cases(20) does not produce.
func examples() []domain.Command {
	at := time.Date(2025, 3, 4, 10, 30, 0, 0, time.UTC)
	h := domain.CommandHeader{CaseID: uuid.New(), CommandID: uuid.New(), OccurredAt: at, SourceSystem: "records",
		Actor: domain.Actor{UserID: "u-1", Role: domain.RoleSupervisor, Agency: "police"}}
	return []domain.Command{
		domain.LinkCases{CommandHeader: h, CasesLinked: domain.CasesLinked{LinkedCaseIDs: []uuid.UUID{uuid.New()}, Reason: "same_couple"}},
		domain.RejectTransfer{CommandHeader: h, TransferRejected: domain.TransferRejected{TransferID: uuid.New(), Reason: "no capacity"}},
		domain.CorrectEntry{CommandHeader: h, EntryCorrected: domain.EntryCorrected{TargetEventID: uuid.New(),
			Changes: []domain.FieldChange{{Field: "address", Value: "12 rue Fictive"}}, Reason: "typo", NewCompartment: domain.CompartmentSealed}},
	}
}

// document decodes a JSON object keeping numbers exact.
func document(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t *testing.T, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// firstCommand returns the JSON of the first generated command of a kind.
func firstCommand(t *testing.T, cases []gen.Case, name string) []byte {
	t.Helper()
	for _, c := range cases {
		for _, s := range c.Steps {
			if domain.CommandName(s.Command) == name {
				_, b, err := domain.EncodeCommand(s.Command)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
	}
	t.Fatalf("no generated %s command", name)
	return nil
}

// TestBrokenDocumentsDoNotValidate checks that the schemas refuse what
// caseledger refuses. Where the strict decoder itself refuses the document
// (unknown member, wrong JSON type), it is checked to agree.
func TestBrokenDocumentsDoNotValidate(t *testing.T) {
	vs := validators(t)
	cases, err := gen.New(1).Cases(20)
	if err != nil {
		t.Fatal(err)
	}
	open := firstCommand(t, cases, "open_case")
	call := firstCommand(t, cases, "receive_call")
	statement, err := json.Marshal(domain.StatementTaken{StatementID: uuid.New(), PartyID: uuid.New(), Kind: "video", MediaRef: "media:1",
		SHA256: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []struct {
		file string
		body []byte
	}{{CommandFile("open_case"), open}, {CommandFile("receive_call"), call}, {EventFile("case.statement_taken"), statement}} {
		if err := vs[doc.file].Validate(doc.body); err != nil {
			t.Fatalf("the unbroken %s document does not validate: %v", doc.file, err)
		}
	}
	tests := []struct {
		name    string
		file    string
		base    []byte
		mutate  func(m map[string]any)
		decoder bool // domain.DecodeCommand refuses it too
	}{
		{"unknown member", CommandFile("open_case"), open, func(m map[string]any) { m["nickname"] = "x" }, true},
		{"unknown member in actor", CommandFile("open_case"), open, func(m map[string]any) { m["actor"].(map[string]any)["badge"] = "x" }, true},
		{"missing case_id", CommandFile("open_case"), open, func(m map[string]any) { delete(m, "case_id") }, false},
		{"missing actor.role", CommandFile("open_case"), open, func(m map[string]any) { delete(m["actor"].(map[string]any), "role") }, false},
		{"wrong role", CommandFile("open_case"), open, func(m map[string]any) { m["actor"].(map[string]any)["role"] = "janitor" }, false},
		{"wrong module", CommandFile("open_case"), open, func(m map[string]any) { m["module"] = "both" }, false},
		{"empty required enum", CommandFile("open_case"), open, func(m map[string]any) { m["module"] = "" }, false},
		{"wrong compartment", CommandFile("open_case"), open, func(m map[string]any) { m["compartment"] = "public" }, false},
		{"not a uuid", CommandFile("open_case"), open, func(m map[string]any) { m["case_id"] = "case-17" }, true},
		{"not a date-time", CommandFile("open_case"), open, func(m map[string]any) { m["occurred_at"] = "yesterday" }, true},
		{"blank source_system", CommandFile("open_case"), open, func(m map[string]any) { m["source_system"] = "   " }, false},
		{"source_system too long", CommandFile("open_case"), open, func(m map[string]any) { m["source_system"] = strings.Repeat("s", 65) }, false},
		{"list too long", CommandFile("open_case"), open, func(m map[string]any) {
			m["source_incidents"] = slices.Repeat([]any{"inc-1"}, 51)
		}, false},
		{"blank list item", CommandFile("open_case"), open, func(m map[string]any) { m["source_incidents"] = []any{""} }, false},
		{"string for a list", CommandFile("open_case"), open, func(m map[string]any) { m["source_incidents"] = "inc-1" }, true},
		{"priority below min", CommandFile("receive_call"), call, func(m map[string]any) { m["priority"] = json.Number("0") }, false},
		{"priority above max", CommandFile("receive_call"), call, func(m map[string]any) { m["priority"] = json.Number("6") }, false},
		{"priority as a string", CommandFile("receive_call"), call, func(m map[string]any) { m["priority"] = "3" }, true},
		{"priority with a fraction", CommandFile("receive_call"), call, func(m map[string]any) { m["priority"] = json.Number("2.5") }, true},
		{"boolean as a string", CommandFile("receive_call"), call, func(m map[string]any) { m["conjugal_context"] = "yes" }, true},
		{"not a sha256", EventFile("case.statement_taken"), statement, func(m map[string]any) { m["sha256"] = "abc" }, false},
		{"wrong statement kind", EventFile("case.statement_taken"), statement, func(m map[string]any) { m["kind"] = "telepathy" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := document(t, tc.base)
			tc.mutate(m)
			b := encode(t, m)
			err := vs[tc.file].Validate(b)
			if err == nil {
				t.Fatalf("%s validates against %s", b, tc.file)
			}
			t.Logf("refused: %v", err)
			if name, ok := strings.CutPrefix(strings.TrimSuffix(tc.file, ".json"), CommandSchemaDir+"/"); ok && tc.decoder {
				if _, err := domain.DecodeCommand(name, b); err == nil {
					t.Errorf("domain.DecodeCommand takes %s", b)
				}
			}
		})
	}
}

// TestEnumValues checks the one helper the generator needs from domain.
func TestEnumValues(t *testing.T) {
	roles, ok := domain.EnumValues(reflect.TypeOf(domain.RoleOfficer))
	if !ok || !slices.Contains(roles, "officer") || slices.Contains(roles, "") {
		t.Errorf("EnumValues(Role) = %v, %v", roles, ok)
	}
	for _, v := range []any{"text", 3, time.Time{}, new(domain.Role)} {
		if _, ok := domain.EnumValues(reflect.TypeOf(v)); ok {
			t.Errorf("EnumValues(%T) says it is an enum", v)
		}
	}
}

// TestShapesTheSchemasCannotSay checks that the generator refuses a Go type
// whose JSON is ambiguous or whose rules it cannot read, rather than write a
// schema that is wrong.
func TestShapesTheSchemasCannotSay(t *testing.T) {
	type inner struct {
		Reason string `json:"reason"`
	}
	type Inner struct {
		Reason string `json:"reason"`
	}
	type clash struct {
		Inner
		Reason string `json:"reason"`
	}
	type typo struct {
		Reason string `json:"reason" cl:"requird"`
	}
	type mapped struct {
		Extra map[string]string `json:"extra"`
	}
	type hidden struct {
		inner
	}
	for _, v := range []any{clash{}, typo{}, mapped{}, hidden{}} {
		if _, err := newBuilder().root(reflect.TypeOf(v), nil); err == nil {
			t.Errorf("%T: no error", v)
		} else {
			t.Logf("%T: %v", v, err)
		}
	}
}
