package kurrent

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
)

func TestMetaWrapperRoundTrip(t *testing.T) {
	prev := eventstore.Hash{1, 2, 3}
	hash := eventstore.Hash{0xff, 0xee}
	for _, meta := range [][]byte{
		nil,
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`"just a string }"`),
		[]byte(" {\n\t\"a\" : 1 ,\"b\":\"<&>\"}\n"),
		[]byte(`{"unicode":"Montréal — 日本 \u00e9","escaped":"\"q\""}`),
	} {
		w := encodeMeta(prev, hash, meta)
		if !json.Valid(w) {
			t.Fatalf("wrapper of %q is not JSON: %q", meta, w)
		}
		got, p, h, err := decodeMeta(w)
		if err != nil || p != prev || h != hash {
			t.Fatalf("decode %q: %v", w, err)
		}
		if !bytes.Equal(got, meta) || (meta == nil) != (got == nil) {
			t.Fatalf("round trip of %q gave %q", meta, got)
		}
	}
}

func TestMetaWrapperReencoded(t *testing.T) {
	prev, hash := eventstore.Hash{9}, eventstore.Hash{8}
	// The same wrapper re-encoded with other key order and spacing still
	// reads; the caller's bytes are then whatever the re-encoding left.
	w := []byte(`{ "meta": {"a": 1}, "chain": {"hash": "` + hash.String() + `", "prev": "` + prev.String() + `"} }`)
	meta, p, h, err := decodeMeta(w)
	if err != nil || p != prev || h != hash || string(meta) != `{"a": 1}` {
		t.Fatalf("re-encoded wrapper: %q %v", meta, err)
	}
	for _, bad := range []string{``, `{}`, `{"actor":"x"}`, `{"chain":{"prev":"00"}}`, `not json`} {
		if _, _, _, err := decodeMeta([]byte(bad)); !errors.Is(err, eventstore.ErrCorrupt) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}
