package kurrent

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/caseledger/caseledger/eventstore"
)

// The KurrentDB metadata of every event caseledger stores is a wrapper around
// the caller's metadata that also carries the event's link in its stream's
// hash chain:
//
//	{"chain":{"prev":"<64 hex>","hash":"<64 hex>"},"meta":<caller's bytes>}
//
// "meta" is left out when the caller gave no metadata, so that a caller's
// literal null stays distinguishable from none. The wrapper is built by hand,
// not with encoding/json, because json.Marshal compacts and HTML-escapes a
// RawMessage: the caller's bytes must be kept exactly, whitespace included,
// since the chain hash covers them.
const (
	wrapPrev = `{"chain":{"prev":"`
	wrapHash = `","hash":"`
	wrapEnd  = `"}`
	wrapMeta = `,"meta":`
	hashHex  = 2 * len(eventstore.Hash{})
)

// encodeMeta wraps the caller's metadata with the chain link.
func encodeMeta(prev, hash eventstore.Hash, meta []byte) []byte {
	out := make([]byte, 0, len(wrapPrev)+2*hashHex+len(wrapHash)+len(wrapEnd)+len(wrapMeta)+len(meta)+1)
	out = append(out, wrapPrev...)
	out = hex.AppendEncode(out, prev[:])
	out = append(out, wrapHash...)
	out = hex.AppendEncode(out, hash[:])
	out = append(out, wrapEnd...)
	if len(meta) > 0 {
		out = append(out, wrapMeta...)
		out = append(out, meta...)
	}
	return append(out, '}')
}

// decodeMeta unwraps stored metadata into the caller's exact bytes (nil when
// there were none) and the chain link. It returns an error wrapping
// eventstore.ErrCorrupt when the metadata is not a wrapper.
func decodeMeta(b []byte) (meta []byte, prev, hash eventstore.Hash, err error) {
	if meta, prev, hash, ok := decodeExact(b); ok {
		return meta, prev, hash, nil
	}
	// Not in the layout this package writes (re-encoded by some tool, say):
	// read it as JSON. The caller's bytes may then differ from what was
	// hashed, and the chain verification says so.
	var w struct {
		Chain *struct {
			Prev *eventstore.Hash `json:"prev"`
			Hash *eventstore.Hash `json:"hash"`
		} `json:"chain"`
		Meta json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(b, &w); err != nil || w.Chain == nil || w.Chain.Prev == nil || w.Chain.Hash == nil {
		return nil, prev, hash, fmt.Errorf("%w: event metadata is not caseledger's chain wrapper", eventstore.ErrCorrupt)
	}
	if len(w.Meta) > 0 {
		meta = w.Meta
	}
	return meta, *w.Chain.Prev, *w.Chain.Hash, nil
}

// decodeExact reads the layout encodeMeta writes, byte for byte.
func decodeExact(b []byte) (meta []byte, prev, hash eventstore.Hash, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte(wrapPrev))
	if !found || len(rest) < hashHex {
		return nil, prev, hash, false
	}
	if _, err := hex.Decode(prev[:], rest[:hashHex]); err != nil {
		return nil, prev, hash, false
	}
	if rest, found = bytes.CutPrefix(rest[hashHex:], []byte(wrapHash)); !found || len(rest) < hashHex {
		return nil, prev, hash, false
	}
	if _, err := hex.Decode(hash[:], rest[:hashHex]); err != nil {
		return nil, prev, hash, false
	}
	if rest, found = bytes.CutPrefix(rest[hashHex:], []byte(wrapEnd)); !found {
		return nil, prev, hash, false
	}
	if len(rest) == 1 && rest[0] == '}' {
		return nil, prev, hash, true
	}
	if rest, found = bytes.CutPrefix(rest, []byte(wrapMeta)); !found || len(rest) < 2 || rest[len(rest)-1] != '}' {
		return nil, prev, hash, false
	}
	meta = rest[:len(rest)-1]
	if !json.Valid(meta) {
		return nil, prev, hash, false
	}
	return meta, prev, hash, true
}
