package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Store is the record. Implementations are safe for concurrent use.
type Store interface {
	Reader
	Appender
}

// Appender writes to the record: ingest (commands), the API (access
// records) and the ledger (checkpoints) hold one; every other role holds a
// Reader only.
type Appender interface {
	// Append writes events at the end of stream if the stream's version is
	// what expected says, all of them or none. Appending event ids that are
	// already stored, in that stream and in that order, returns the stored
	// result and writes nothing, whatever expected says.
	//
	// Errors: *WrongVersionError (errors.Is ErrWrongVersion),
	// ErrInvalidStream, ErrInvalidEvent, ErrDuplicateEventID, ErrClosed,
	// the context's error, and the backend's own I/O errors wrapped.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events []EventData) (AppendResult, error)
}

// Reader reads the record: what the roles that only follow it (relay,
// projections, verify, replay, export) are given, so that they cannot
// write by construction.
type Reader interface {
	// ReadStream returns up to max events of stream from version from
	// (inclusive), oldest first; an unknown stream reads as empty.
	ReadStream(ctx context.Context, stream string, from int64, max int) ([]Record, error)

	// ReadAll returns up to max events of the global log after position
	// after (exclusive; the zero Position reads from the start), in global
	// order.
	ReadAll(ctx context.Context, after Position, max int) ([]Record, error)

	// SubscribeAll calls fn with every event after position after, in
	// global order: first those already stored, then each one as it is
	// committed, with no gap and no duplicate at the switch. It returns when
	// ctx is done (with ctx's error) or fn returns an error (with that error).
	SubscribeAll(ctx context.Context, after Position, fn func(Record) error) error

	// Close releases the store. Appends in flight finish or fail with
	// ErrClosed; nothing acknowledged is lost.
	Close() error
}

// StreamLister is a store that can name the streams that exist between
// two names (inclusive) without reading their events: an export reads the
// access log of the days that have one, not of every day since a case
// began.
type StreamLister interface {
	StreamsBetween(ctx context.Context, from, to string) ([]string, error)
}

// Unwrapper is a store that wraps another (encrypting, signing), so that
// Find can reach the capabilities of the one underneath.
type Unwrapper interface {
	Unwrap() Store
}

// Find returns the first store in r's chain of wrappers (r itself first)
// that is a T.
func Find[T any](r Reader) (T, bool) {
	for r != nil {
		if t, ok := r.(T); ok {
			return t, true
		}
		u, ok := r.(Unwrapper)
		if !ok {
			break
		}
		r = u.Unwrap()
	}
	var zero T
	return zero, false
}

// Counter is a store that can count the events after a position without
// reading them (for lag metrics).
type Counter interface {
	CountAfter(ctx context.Context, after Position) (int64, error)
}

// ExpectedVersion is what an append expects of its stream: NoStream, Any, or
// the exact version of the stream's last event (see Exact).
type ExpectedVersion int64

const (
	// Any accepts whatever the stream's version is.
	Any ExpectedVersion = -2
	// NoStream expects the stream to have no event yet.
	NoStream ExpectedVersion = -1
)

// Exact expects the stream's last event to be at version v (0-based).
func Exact(v int64) ExpectedVersion { return ExpectedVersion(v) }

func (e ExpectedVersion) String() string {
	switch e {
	case Any:
		return "any"
	case NoStream:
		return "no stream"
	}
	return strconv.FormatInt(int64(e), 10)
}

// Check reports whether a stream whose last version is current (-1 when
// empty) meets the expectation, as a *WrongVersionError when it does not.
func (e ExpectedVersion) Check(stream string, current int64) error {
	if e == Any || int64(e) == current {
		return nil
	}
	return &WrongVersionError{Stream: stream, Expected: e, Actual: current}
}

// EventData is an event to append: its id (the idempotency key), its type
// name, and its data and metadata as the caller encoded them. The store keeps
// the bytes exactly.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata []byte
}

// Record is a stored event.
type Record struct {
	ID         uuid.UUID
	Stream     string
	Version    int64    // 0-based position in its stream
	Position   Position // position in the global log
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time // when the store committed it
	PrevHash   Hash      // the previous event's Hash in the stream; zero for the first
	Hash       Hash      // ChainHash(PrevHash, this event)
}

// AppendResult says where an append landed.
type AppendResult struct {
	Stream       string
	FirstVersion int64
	LastVersion  int64
	Position     Position // of the last event appended
	Hash         Hash     // chain hash of the last event appended
	Duplicate    bool     // the events were already stored: nothing was written
}

// Position is a place in the global log. Backends give it meaning (SQLite:
// the row id; EventStoreDB: the commit and prepare positions); callers only
// compare, store and restore it.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Start is the position before the first event.
var Start Position

// Less orders positions.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Prepare < q.Prepare
}

// String serialises a position for a checkpoint: "commit/prepare".
func (p Position) String() string {
	return strconv.FormatUint(p.Commit, 10) + "/" + strconv.FormatUint(p.Prepare, 10)
}

// MarshalText implements encoding.TextMarshaler.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	q, err := ParsePosition(string(b))
	*p = q
	return err
}

// ParsePosition reads a position written by Position.String.
func ParsePosition(s string) (Position, error) {
	c, pr, ok := strings.Cut(s, "/")
	commit, err1 := strconv.ParseUint(c, 10, 64)
	prepare, err2 := strconv.ParseUint(pr, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Position{}, fmt.Errorf("%w: not commit/prepare", ErrInvalidPosition)
	}
	return Position{Commit: commit, Prepare: prepare}, nil
}

// Errors. Compare with errors.Is.
var (
	// ErrWrongVersion is the sentinel inside *WrongVersionError.
	ErrWrongVersion = errors.New("eventstore: wrong expected version")
	// ErrInvalidStream is returned for a stream name outside the contract:
	// "case-<uuid>", "access-<yyyy-mm-dd>", "ledger-checkpoints", or another
	// lower-case name of letters, digits and dashes up to 200 bytes.
	ErrInvalidStream = errors.New("eventstore: invalid stream name")
	// ErrInvalidEvent is returned for an append with no event, an event with
	// a nil id, an empty or overlong type, data or metadata that is not
	// valid UTF-8 JSON text, or two events with the same id.
	ErrInvalidEvent = errors.New("eventstore: invalid event")
	// ErrDuplicateEventID is returned when an event id is already stored
	// somewhere other than as a retry of the same append.
	ErrDuplicateEventID = errors.New("eventstore: event id already stored elsewhere")
	// ErrInvalidPosition is returned for a checkpoint that is not a position.
	ErrInvalidPosition = errors.New("eventstore: invalid position")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrCorrupt is returned when stored data cannot be read back as the
	// contract says (a damaged file, a row edited by hand).
	ErrCorrupt = errors.New("eventstore: stored data is corrupt")
)

// WrongVersionError says that a stream was not at the expected version.
type WrongVersionError struct {
	Stream   string
	Expected ExpectedVersion
	Actual   int64 // -1 when the stream has no event
}

func (e *WrongVersionError) Error() string {
	return fmt.Sprintf("eventstore: wrong expected version on %s: expected %s, actual %d", e.Stream, e.Expected, e.Actual)
}

func (e *WrongVersionError) Is(target error) bool { return target == ErrWrongVersion }

// Limits on what one event may hold.
const (
	MaxTypeLen   = 128
	MaxEventSize = 4 << 20 // data plus metadata
	MaxStreamLen = 200
)

// ValidateStream checks a stream name against the contract.
func ValidateStream(s string) error {
	if s == "" || len(s) > MaxStreamLen {
		return fmt.Errorf("%w: empty or longer than %d bytes", ErrInvalidStream, MaxStreamLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%w: byte %d is not a lower-case letter, digit or dash", ErrInvalidStream, i)
		}
	}
	if rest, ok := strings.CutPrefix(s, "case-"); ok {
		if u, err := uuid.Parse(rest); err != nil || u.String() != rest {
			return fmt.Errorf("%w: case stream is not case-<uuid>", ErrInvalidStream)
		}
	}
	if rest, ok := strings.CutPrefix(s, "access-"); ok {
		if _, err := time.Parse("2006-01-02", rest); err != nil {
			return fmt.Errorf("%w: access stream is not access-<yyyy-mm-dd>", ErrInvalidStream)
		}
	}
	return nil
}

// ValidateAppend checks an append's stream and events before any I/O.
func ValidateAppend(stream string, events []EventData) error {
	if err := ValidateStream(stream); err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrInvalidEvent)
	}
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, e := range events {
		switch {
		case e.ID == uuid.Nil:
			return fmt.Errorf("%w: event %d has no id", ErrInvalidEvent, i)
		case e.Type == "" || len(e.Type) > MaxTypeLen || !utf8.ValidString(e.Type):
			return fmt.Errorf("%w: event %d type is empty, longer than %d bytes or not UTF-8", ErrInvalidEvent, i, MaxTypeLen)
		case len(e.Data)+len(e.Metadata) > MaxEventSize:
			return fmt.Errorf("%w: event %d is larger than %d bytes", ErrInvalidEvent, i, MaxEventSize)
		case !json.Valid(e.Data):
			return fmt.Errorf("%w: event %d data is not JSON", ErrInvalidEvent, i)
		case len(e.Metadata) > 0 && !json.Valid(e.Metadata):
			return fmt.Errorf("%w: event %d metadata is not JSON", ErrInvalidEvent, i)
		}
		if _, dup := seen[e.ID]; dup {
			return fmt.Errorf("%w: event %d repeats an id of the same append", ErrInvalidEvent, i)
		}
		seen[e.ID] = struct{}{}
	}
	return nil
}
