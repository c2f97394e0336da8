package eventstore_test

import (
	"strings"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
)

// TestChainHashIsFrozen pins the chain algorithm to known values, which were
// computed independently of this code (Python's hashlib over the framing the
// README documents). An auditor's own verifier must compute the same bytes:
// a change here breaks every stored chain and must never ship.
func TestChainHashIsFrozen(t *testing.T) {
	e := eventstore.EventData{
		ID:       uuid.MustParse("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"),
		Type:     "case.opened",
		Data:     []byte(`{"module":"victim_support","agency":"police-lavallee"}`),
		Metadata: []byte(`{"schema_version":1}`),
	}
	first := eventstore.ChainHash(eventstore.Hash{}, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c", 0, e)
	second := eventstore.ChainHash(first, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2c", 1, e)
	const (
		wantFirst  = "24fbab149e04e3d28a0f3c344fefa747ad6328574b8837ca5dcdd40e7d44a18e"
		wantSecond = "a0f8e888f331cd5a9acbb17186964b802a2024e978f6d68bc449cd7881d97d8f"
	)
	if first.String() != wantFirst || second.String() != wantSecond {
		t.Fatalf("chain hashes changed:\n%s\n%s", first, second)
	}
}

// TestChainCoversEveryField: changing any part of an event, its place or
// its predecessor changes its hash.
func TestChainCoversEveryField(t *testing.T) {
	e := eventstore.EventData{ID: uuid.New(), Type: "t", Data: []byte(`{"a":1}`), Metadata: []byte(`{"m":2}`)}
	base := eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, e)
	variants := map[string]eventstore.Hash{}
	other := e
	other.ID = uuid.New()
	variants["id"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, other)
	other = e
	other.Type = "u"
	variants["type"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, other)
	other = e
	other.Data = []byte(`{"a":2}`)
	variants["data"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, other)
	other = e
	other.Metadata = []byte(`{"m":3}`)
	variants["metadata"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, other)
	variants["stream"] = eventstore.ChainHash(eventstore.Hash{}, "case-y", 3, e)
	variants["version"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 4, e)
	variants["prev"] = eventstore.ChainHash(eventstore.Hash{1}, "case-x", 3, e)
	// Moving bytes between data and metadata is not the same event either:
	// fields are length-prefixed.
	other = e
	other.Data, other.Metadata = []byte(`{"a":1}{"m"`), []byte(`:2}`)
	variants["framing"] = eventstore.ChainHash(eventstore.Hash{}, "case-x", 3, other)
	for name, h := range variants {
		if h == base {
			t.Errorf("changing %s kept the hash", name)
		}
	}
}

func TestVerifierReports(t *testing.T) {
	stream := "case-" + uuid.NewString()
	var recs []eventstore.Record
	prev := eventstore.Hash{}
	for v := range int64(5) {
		r := eventstore.Record{ID: uuid.New(), Stream: stream, Version: v, Type: "t", Data: []byte(`{}`), PrevHash: prev}
		r.Hash = r.Link(prev)
		prev = r.Hash
		recs = append(recs, r)
	}
	if b := eventstore.VerifyStream(recs); b != nil {
		t.Fatal(b)
	}
	cases := map[string]struct {
		recs    []eventstore.Record
		version int64
		reason  string
	}{
		"missing":    {append(append([]eventstore.Record{}, recs[:2]...), recs[3:]...), 2, "missing"},
		"reordered":  {[]eventstore.Record{recs[0], recs[2], recs[1]}, 1, "reordered"},
		"first gone": {recs[1:], 0, "missing"},
	}
	relinked := append([]eventstore.Record{}, recs...)
	relinked[3].PrevHash = eventstore.Hash{9}
	cases["relinked"] = struct {
		recs    []eventstore.Record
		version int64
		reason  string
	}{relinked, 3, "previous-hash"}
	for name, c := range cases {
		b := eventstore.VerifyStream(c.recs)
		if b == nil || b.Version != c.version || b.Stream != stream || !strings.Contains(b.Reason, c.reason) {
			t.Errorf("%s: %v", name, b)
		}
	}
}

func TestValidateStream(t *testing.T) {
	for _, ok := range []string{"case-" + uuid.NewString(), "access-2026-11-27", "ledger-checkpoints"} {
		if err := eventstore.ValidateStream(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "case-" + strings.ToUpper(uuid.NewString()), "access-2026-02-30", "a/b", "$all", strings.Repeat("x", 201)} {
		if err := eventstore.ValidateStream(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
