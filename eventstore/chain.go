package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
)

// Hash is a SHA-256 chain hash.
type Hash [32]byte

// IsZero reports whether h is the zero hash (the "previous" of a stream's
// first event).
func (h Hash) IsZero() bool { return h == Hash{} }

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler (lower-case hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("%w: hash is not 64 hex digits", ErrCorrupt)
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("%w: hash is not hex", ErrCorrupt)
	}
	return nil
}

// chainTag separates caseledger's chain hashes from any other use of SHA-256
// over the same bytes.
const chainTag = "caseledger/event-chain/v1\x00"

// ChainHash computes an event's link in its stream's chain:
//
//	SHA-256(tag ‖ prev ‖ len‖stream ‖ version ‖ id ‖ len‖type ‖ len‖metadata ‖ len‖data)
//
// over the exact stored bytes, never re-encoded JSON. Each variable field is
// prefixed with its length (8 bytes, big-endian) so that no two different
// events frame to the same bytes. Stream, version and id are inside the hash,
// so an event moved, renumbered or swapped breaks the chain as surely as an
// edited byte.
func ChainHash(prev Hash, stream string, version int64, e EventData) Hash {
	h := sha256.New()
	writeChain(h, prev, stream, version, e)
	var out Hash
	h.Sum(out[:0])
	return out
}

func writeChain(h hash.Hash, prev Hash, stream string, version int64, e EventData) {
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	h.Write([]byte(chainTag))
	h.Write(prev[:])
	field([]byte(stream))
	binary.BigEndian.PutUint64(n[:], uint64(version))
	h.Write(n[:])
	h.Write(e.ID[:])
	field([]byte(e.Type))
	field(e.Metadata)
	field(e.Data)
}

// Link returns the hash a record should carry given the previous one.
func (r Record) Link(prev Hash) Hash {
	return ChainHash(prev, r.Stream, r.Version, EventData{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata})
}

// Break describes the first place a stream's chain does not hold.
type Break struct {
	Stream  string
	Version int64  // the version where the chain breaks (expected version when one is missing)
	Reason  string // fixed text: which check failed
}

func (b Break) Error() string {
	return fmt.Sprintf("chain broken in %s at version %d: %s", b.Stream, b.Version, b.Reason)
}

// Verifier checks chains incrementally, event by event, for any number of
// streams at once: feed it a stream's records in order, or the whole global
// log. It keeps one entry per stream seen.
type Verifier struct {
	last    map[string]link
	broken  map[string]bool
	Events  int64 // records checked
	Streams int   // distinct streams seen
	Breaks  []Break
}

type link struct {
	version int64
	hash    Hash
}

// NewVerifier returns an empty verifier.
func NewVerifier() *Verifier {
	return &Verifier{last: map[string]link{}, broken: map[string]bool{}}
}

// Add checks one record against the one before it in its stream and returns
// the break it finds, if any. After a break in a stream, later records of
// that stream are not reported again.
func (v *Verifier) Add(r Record) *Break {
	v.Events++
	if v.broken[r.Stream] {
		return nil
	}
	prev, seen := v.last[r.Stream]
	if !seen {
		prev = link{version: -1}
		v.Streams++
	}
	var reason string
	switch {
	case r.Version != prev.version+1:
		reason = fmt.Sprintf("version %d follows version %d: events missing or reordered", r.Version, prev.version)
		r.Version = prev.version + 1
	case r.PrevHash != prev.hash:
		reason = "previous-hash link does not match the previous event"
	case r.Link(prev.hash) != r.Hash:
		reason = "stored bytes do not match the event's hash: altered"
	}
	if reason != "" {
		b := Break{Stream: r.Stream, Version: r.Version, Reason: reason}
		v.Breaks = append(v.Breaks, b)
		v.broken[r.Stream] = true
		return &b
	}
	v.last[r.Stream] = link{version: r.Version, hash: r.Hash}
	return nil
}

// VerifyStream walks one stream's records, oldest first, and returns the
// first break, or nil when the whole chain holds.
func VerifyStream(records []Record) *Break {
	v := NewVerifier()
	for _, r := range records {
		if b := v.Add(r); b != nil {
			return b
		}
	}
	return nil
}
