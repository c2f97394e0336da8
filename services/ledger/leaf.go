// Package ledger keeps the global log: an RFC 6962 Merkle tree over every
// event of the record in global order, with signed checkpoints (Ed25519
// signed notes) and inclusion and consistency proofs. Together with each
// case's hash chain it lets anyone holding the public key prove that
// nothing was altered, removed or reordered.
//
// Leaves hold no personal data: position, stream, version, event id, type,
// recorded_at, actor id and the event's chain hash. The leaf framing below
// is frozen (golden values in the tests) and repeated, with the standard
// library only, in cmd/caseverify.
//
// It never signs a checkpoint over a log that does not extend the last one
// it signed (ErrInconsistent), and never trusts its own tree files past
// that checkpoint: those leaves are read from the record again. It writes
// to the record only its checkpoints, on their own stream, never to a case
// stream, and never changes the leaf framing under an existing LeafTag: a
// proof already handed out must keep checking.
package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/caseledger/caseledger/eventstore"
	"golang.org/x/mod/sumdb/tlog"
)

// LeafTag opens every leaf's data; it changes if the framing ever does.
const LeafTag = "caseledger/ledger-leaf/v1"

// Leaf is what the log commits to for one event.
type Leaf struct {
	Position   string // as the store prints it (COMMIT/PREPARE)
	Stream     string
	Version    int64
	EventID    string
	Type       string
	RecordedAt string // the metadata's recorded_at, exactly as stored
	ActorID    string // the metadata's actor.user_id
	ChainHash  string // hex
}

// LeafOf reads a record's leaf: the recorded_at and actor id come from its
// stored metadata (covered by the chain); metadata without them gives empty
// fields, never an error, so every event has a leaf.
func LeafOf(r eventstore.Record) Leaf {
	var m struct {
		RecordedAt any `json:"recorded_at"`
		Actor      struct {
			UserID any `json:"user_id"`
		} `json:"actor"`
	}
	_ = json.Unmarshal(r.Metadata, &m)
	recorded, _ := m.RecordedAt.(string) // a non-string is no recorded_at
	actor, _ := m.Actor.UserID.(string)
	return Leaf{Position: r.Position.String(), Stream: r.Stream, Version: r.Version, EventID: r.ID.String(), Type: r.Type,
		RecordedAt: recorded, ActorID: actor, ChainHash: hex.EncodeToString(r.Hash[:])}
}

// Bytes is the leaf's data: the tag and each field, each preceded by its
// length as 8 bytes big-endian.
func (l Leaf) Bytes() []byte {
	fields := []string{LeafTag, l.Position, l.Stream, strconv.FormatInt(l.Version, 10), l.EventID, l.Type, l.RecordedAt, l.ActorID, l.ChainHash}
	n := 0
	for _, f := range fields {
		n += 8 + len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range fields {
		out = binary.BigEndian.AppendUint64(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

// Hash is the leaf's RFC 6962 hash, SHA-256(0x00 ‖ data).
func (l Leaf) Hash() tlog.Hash { return tlog.RecordHash(l.Bytes()) }
