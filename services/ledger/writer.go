package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caseledger/caseledger/eventstore"
	"golang.org/x/mod/sumdb/note"
)

// Writer signatures: every process that appends to the record (ingest, the
// API's access records, the ledger's checkpoints, the command-line tools)
// signs each event with a writer key kept apart from the data directory.
// The signature goes into the event's stored metadata, as its last field,
//
//	…,"writer_sig":"<key name>+<key hash, 8 hex> <base64 Ed25519 signature>"}
//
// so the chain, computed over the stored bytes, covers it. It signs
// SHA-256 of "caseledger/writer-signature/v1", then the stream, the event
// id, the type, the metadata as given (without the field) and the data,
// each preceded by its length (8 bytes big-endian). The version is not
// signed (an append with expectation Any learns it only when stored): the
// chain and the checkpoints fix the order.
//
// An insider with the data directory but not the writer key can no longer
// add an event the ledger logs: it refuses an unsigned or wrongly signed
// event, naming it, once the record's first event is signed (a record
// begun before writer signatures is reported as such, not checked).

// writerTag frames what a writer signs.
const writerTag = "caseledger/writer-signature/v1"

// Errors of CheckWriter.
var (
	ErrUnsigned        = errors.New("ledger: the event is not signed by a writer")
	ErrUnknownWriter   = errors.New("ledger: the event is signed by a key that is not a registered writer's")
	ErrBadWriterSig    = errors.New("ledger: the event's writer signature does not verify")
	errWriterMetadata  = errors.New("ledger: a writer signs only metadata that is a JSON object")
	writerFieldPrefix  = []byte(`"writer_sig":"`)
	writerFieldWithSep = []byte(`,"writer_sig":"`)
)

func writerDigest(stream string, id [16]byte, typ string, meta, data []byte) []byte {
	h := sha256.New()
	for _, f := range [][]byte{[]byte(writerTag), []byte(stream), id[:], []byte(typ), meta, data} {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write(f)
	}
	return h.Sum(nil)
}

// SignEvent returns e's metadata with the writer's signature as its last
// field.
func SignEvent(signer note.Signer, stream string, e eventstore.EventData) ([]byte, error) {
	meta := bytes.TrimSpace(e.Metadata)
	if len(meta) < 2 || meta[0] != '{' || meta[len(meta)-1] != '}' || bytes.Contains(meta, writerFieldPrefix) {
		return nil, errWriterMetadata
	}
	sig, err := signer.Sign(writerDigest(stream, e.ID, e.Type, meta, e.Data))
	if err != nil {
		return nil, err
	}
	field := fmt.Sprintf(`"writer_sig":"%s+%08x %s"}`, signer.Name(), signer.KeyHash(), base64.StdEncoding.EncodeToString(sig))
	out := append([]byte(nil), meta[:len(meta)-1]...)
	if len(bytes.TrimSpace(meta[1:len(meta)-1])) > 0 {
		out = append(out, ',')
	}
	return append(out, field...), nil
}

// splitWriter returns the metadata as the writer signed it, and the
// signature field's key name, key hash and signature; ok is false when the
// metadata carries no signature field as its last.
func splitWriter(meta []byte) (orig []byte, name string, hash uint32, sig []byte, ok bool) {
	i := bytes.LastIndex(meta, writerFieldPrefix)
	if i < 0 || !bytes.HasSuffix(meta, []byte(`"}`)) {
		return nil, "", 0, nil, false
	}
	value := string(meta[i+len(writerFieldPrefix) : len(meta)-2])
	key, b64, found := strings.Cut(value, " ")
	name, hexHash, found2 := strings.Cut(key, "+")
	h, err := strconv.ParseUint(hexHash, 16, 32)
	sig, err2 := base64.StdEncoding.DecodeString(b64)
	if !found || !found2 || err != nil || err2 != nil {
		return nil, "", 0, nil, false
	}
	switch {
	case bytes.HasSuffix(meta[:i+1], writerFieldWithSep[:2]): // `,"` : other fields before it
		orig = append(append([]byte(nil), meta[:i-1]...), '}')
	case i == 1 && meta[0] == '{':
		orig = []byte("{}")
	default:
		return nil, "", 0, nil, false
	}
	return orig, name, uint32(h), sig, true
}

// CheckWriter checks that a stored event is signed by one of the writers:
// ErrUnsigned, ErrUnknownWriter or ErrBadWriterSig, each naming the event.
func CheckWriter(r eventstore.Record, writers []note.Verifier) error {
	orig, name, hash, sig, ok := splitWriter(r.Metadata)
	if !ok {
		return fmt.Errorf("%w: %s version %d", ErrUnsigned, r.Stream, r.Version)
	}
	for _, w := range writers {
		if w.Name() == name && w.KeyHash() == hash {
			if w.Verify(writerDigest(r.Stream, r.ID, r.Type, orig, r.Data), sig) {
				return nil
			}
			return fmt.Errorf("%w: %s version %d", ErrBadWriterSig, r.Stream, r.Version)
		}
	}
	return fmt.Errorf("%w: %s version %d (key %s)", ErrUnknownWriter, r.Stream, r.Version, name)
}

// WriterSigned reports whether a stored event carries a writer signature field.
func WriterSigned(r eventstore.Record) bool {
	_, _, _, _, ok := splitWriter(r.Metadata)
	return ok
}

// SigningStore is a store whose every append is signed by the writer.
type SigningStore struct {
	eventstore.Store
	Writer note.Signer
}

var _ eventstore.Store = SigningStore{}

// Unwrap returns the store it signs for (eventstore.Find).
func (s SigningStore) Unwrap() eventstore.Store { return s.Store }

// Append signs each event's metadata, then appends.
func (s SigningStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	signed := make([]eventstore.EventData, len(events))
	for i, e := range events {
		meta, err := SignEvent(s.Writer, stream, e)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidEvent, err)
		}
		signed[i] = e
		signed[i].Metadata = meta
	}
	return s.Store.Append(ctx, stream, expected, signed)
}

// SignsFromStart reports whether the record's first event is signed by a
// writer: then every event must be (a record begun before writer
// signatures is not checked, and says so).
func SignsFromStart(ctx context.Context, st eventstore.Reader) (bool, error) {
	first, err := st.ReadAll(ctx, eventstore.Start, 1)
	if err != nil || len(first) == 0 {
		return false, err
	}
	return WriterSigned(first[0]), nil
}
