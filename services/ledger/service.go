package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointStream is where signed checkpoints are appended; its events
// are leaves of later trees like any other.
const CheckpointStream = "ledger-checkpoints"

// CheckpointType is the type of a checkpoint event.
const CheckpointType = "ledger.checkpoint_signed"

// CosignedType is the type of the event that keeps a checkpoint with the
// witnesses' cosignatures, appended after the checkpoint it cosigns.
const CosignedType = "ledger.checkpoint_cosigned"

// Cosign asks the witnesses to cosign a checkpoint (signed, of size
// leaves), with prove giving the consistency proof from any older size a
// witness last cosigned; it returns their cosignature lines, and an error
// when fewer than the quorum cosigned (a witness that refuses because the
// log was rolled back or forked says so in it).
type Cosign func(ctx context.Context, signed []byte, size int64, prove func(old int64) ([]tlog.Hash, error)) (cosignatures []byte, err error)

// Subject is the NATS subject checkpoints are published on.
const Subject = "caseledger.ledger.checkpoints"

// Signed is a checkpoint with its signed note, as the checkpoint stream
// and NATS carry it.
type Signed struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"` // base64
	Note   string `json:"note"` // the signed note, text and signature lines
}

// ErrInconsistent means the log does not extend a checkpoint already
// signed: the record or the log's files were altered, or they are not the
// ones the checkpoint was signed over. Nothing is signed then.
var ErrInconsistent = errors.New("ledger: the log does not extend the last signed checkpoint")

// Service keeps the log up to date with the record and signs checkpoints.
type Service struct {
	// Writers are the keys whose signatures the ledger requires on every
	// event it logs, once the record's first event is signed (see
	// CheckWriter); none, and nothing is checked.
	Writers []note.Verifier
	// checkWriters is decided at the first event: the record signs from
	// its start.
	checkWriters, decided bool
	// Cosign, when set, has every checkpoint cosigned by the witnesses
	// after it is signed and kept; a checkpoint they do not cosign stays
	// signed, is logged at ERROR, and is not kept as witnessed.
	Cosign   Cosign
	Log      *Log
	Keys     Keys
	Store    eventstore.Store
	NATS     *nats.Conn // optional
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time

	// fault is set while checkpoints cannot be signed (the record or the
	// tree cannot be written) and cleared by the next one signed.
	fault writable.Fault

	mu      sync.Mutex
	started bool
	last    *Checkpoint // last signed
	grew    bool        // leaves other than checkpoints since last
	signed  int64       // checkpoints signed by this process
	at      time.Time   // when this process last signed one
}

// SignedAt is when this process last signed a checkpoint (zero before).
func (s *Service) SignedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at
}

// Last is the last signed checkpoint, if any.
func (s *Service) Last() (Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Checkpoint{}, false
	}
	return *s.last, true
}

// Start brings the log up to the record and checks it against the last
// checkpoint in the checkpoint stream, which must verify with this key.
func (s *Service) Start(ctx context.Context) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.fault = writable.Fault{Log: s.Logger, What: "the ledger's checkpoints", Then: "none is signed until the record and the tree take writes again; what is recorded meanwhile is logged with the next"}
	cps, err := ReadCheckpoints(ctx, s.Store, s.Keys)
	if err != nil {
		return err
	}
	var signed int64
	if len(cps) > 0 {
		signed = cps[len(cps)-1].Size
	}
	// Leaves past the last checkpoint were never signed: they are read
	// from the record again rather than trusted from the files.
	if err := s.Log.Truncate(signed); err != nil {
		return err
	}
	if err := s.lastLeafInRecord(ctx); err != nil {
		return err
	}
	if _, err := s.catchUp(ctx); err != nil {
		return err
	}
	if len(cps) > 0 {
		last := cps[len(cps)-1].Checkpoint
		if err := s.consistent(last); err != nil {
			return err
		}
		s.last = &last
	}
	s.started = true
	return nil
}

// lastLeafInRecord checks that the record holds the log's last leaf where
// the log has it (a record restored from an older backup, beside newer
// ledger files, does not), so that catching up continues the same log.
func (s *Service) lastLeafInRecord(ctx context.Context) error {
	n := s.Log.Size()
	if n == 0 {
		return nil
	}
	id, pos, hash := s.Log.leafAt(n - 1)
	after := eventstore.Start
	if n > 1 {
		_, after, _ = s.Log.leafAt(n - 2)
	}
	recs, err := s.Store.ReadAll(ctx, after, 1)
	if err != nil {
		return err
	}
	if len(recs) == 0 || recs[0].ID != id || recs[0].Position != pos || LeafOf(recs[0]).Hash() != hash {
		return fmt.Errorf("%w: the record does not hold leaf %d (event %s at %s) as the log's files do; move the ledger's tree files away to rebuild them from the record, and check the record against the signed checkpoints (caseledger verify)", ErrInconsistent, n-1, id, pos)
	}
	return nil
}

// Stored is a signed checkpoint as read back from the checkpoint stream.
type Stored struct {
	Checkpoint
	Note []byte // the signed note, with the witnesses' cosignatures once they gave them
	// Cosigned is set when Note carries the witnesses' cosignatures.
	Cosigned bool
}

// ReadCheckpoints reads every signed checkpoint in the checkpoint stream,
// checking each signature; a checkpoint that does not verify is an error
// naming its version.
func ReadCheckpoints(ctx context.Context, st eventstore.Reader, k Keys) ([]Stored, error) {
	var out []Stored
	for from := int64(0); ; {
		page, err := st.ReadStream(ctx, CheckpointStream, from, 1000)
		if err != nil {
			return nil, fmt.Errorf("ledger: read checkpoints: %w", err)
		}
		for _, r := range page {
			var sc Signed
			if err := json.Unmarshal(r.Data, &sc); err != nil {
				return nil, fmt.Errorf("ledger: checkpoint %d is malformed", r.Version)
			}
			c, err := OpenCheckpoint([]byte(sc.Note), k.Verifier)
			if err != nil {
				return nil, fmt.Errorf("ledger: checkpoint %d: %w", r.Version, err)
			}
			if r.Type == CosignedType {
				// The cosigned form of a checkpoint already read: it takes
				// that checkpoint's place, cosignatures and all.
				i := slices.IndexFunc(out, func(x Stored) bool { return x.Checkpoint == c })
				if i < 0 {
					return nil, fmt.Errorf("ledger: checkpoint %d cosigns no checkpoint of the stream", r.Version)
				}
				out[i].Note, out[i].Cosigned = []byte(sc.Note), true
				continue
			}
			out = append(out, Stored{Checkpoint: c, Note: []byte(sc.Note)})
		}
		if len(page) < 1000 {
			return out, nil
		}
		from = page[len(page)-1].Version + 1
	}
}

// consistent checks that the log extends c: its tree of c.Size leaves has
// c's root.
func (s *Service) consistent(c Checkpoint) error {
	if s.Log.Size() < c.Size {
		return fmt.Errorf("%w: checkpoint of %d leaves, the log holds %d", ErrInconsistent, c.Size, s.Log.Size())
	}
	root, err := s.Log.TreeHash(c.Size)
	if err != nil {
		return err
	}
	if root != c.Root {
		return fmt.Errorf("%w: the tree of its first %d leaves has root %s, the checkpoint %s", ErrInconsistent, c.Size, root, c.Root)
	}
	return nil
}

func (s *Service) catchUp(ctx context.Context) (int64, error) {
	n, err := s.Log.CatchUp(ctx, s.Store, func(page []eventstore.Record) error {
		if len(s.Writers) > 0 && !s.decided {
			signs, err := SignsFromStart(ctx, s.Store)
			if err != nil {
				return err
			}
			s.checkWriters, s.decided = signs, true
			if !signs {
				s.Logger.Warn("the record began before writer signatures: the ledger logs its events unchecked")
			}
		}
		for _, r := range page {
			if s.checkWriters {
				// Nothing a registered writer did not sign is logged, nor
				// anything after it.
				if err := CheckWriter(r, s.Writers); err != nil {
					s.Logger.Error("event refused: not signed by a registered writer", "stream", r.Stream, "version", r.Version, "err", err.Error())
					return err
				}
			}
			if r.Stream != CheckpointStream {
				s.grew = true
			}
		}
		return nil
	})
	return n, err
}

// SignNow catches up and signs a checkpoint over the whole log, unless
// nothing but checkpoints was added since the last one. It appends the
// checkpoint to the checkpoint stream and publishes it on NATS.
func (s *Service) SignNow(ctx context.Context) (Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return Checkpoint{}, false, errors.New("ledger: not started, or its start failed: nothing is signed")
	}
	if _, err := s.catchUp(ctx); err != nil {
		return Checkpoint{}, false, err
	}
	if (!s.grew && s.last != nil) || s.Log.Size() == 0 {
		// Nothing new but checkpoints, or nothing at all: no checkpoint.
		if s.last == nil {
			return Checkpoint{}, false, nil
		}
		return *s.last, false, nil
	}
	if s.last != nil {
		if err := s.consistent(*s.last); err != nil {
			return Checkpoint{}, false, err
		}
	}
	size := s.Log.Size()
	root, err := s.Log.TreeHash(size)
	if err != nil {
		return Checkpoint{}, false, err
	}
	c := Checkpoint{Origin: s.Keys.Signer.Name(), Size: size, Root: root}
	signed, err := s.Keys.Sign(c)
	if err != nil {
		return Checkpoint{}, false, err
	}
	// The leaves it covers are durable before the checkpoint is.
	if err := s.Log.Sync(); err != nil {
		return Checkpoint{}, false, err
	}
	body, err := json.Marshal(Signed{Origin: c.Origin, Size: c.Size, Root: base64.StdEncoding.EncodeToString(root[:]), Note: string(signed)})
	if err != nil {
		return Checkpoint{}, false, err
	}
	now := s.Now().UTC()
	meta, _ := json.Marshal(map[string]any{"recorded_at": now, "occurred_at": now, "source_system": "ledger",
		"actor": map[string]string{"user_id": "ledger", "role": "system", "agency": ""}})
	id, err := uuid.NewV7()
	if err != nil {
		return Checkpoint{}, false, err
	}
	if _, err := s.Store.Append(ctx, CheckpointStream, eventstore.Any, []eventstore.EventData{{ID: id, Type: CheckpointType, Data: body, Metadata: meta}}); err != nil {
		return Checkpoint{}, false, fmt.Errorf("ledger: append checkpoint: %w", err)
	}
	s.last, s.grew = &c, false
	s.signed++
	s.at = now
	if s.NATS != nil {
		if err := s.NATS.Publish(Subject, body); err != nil {
			s.Logger.Warn("checkpoint not published on NATS", "size", c.Size, "err", err)
		}
	}
	s.Logger.Info("checkpoint signed", "size", c.Size, "root", c.Root.String())
	if s.Cosign != nil {
		s.witness(ctx, c, signed)
	}
	return c, true, nil
}

// witness has the checkpoint cosigned and keeps the cosigned note in the
// checkpoint stream; a failure is logged, and the next checkpoint tries
// again (the witnesses catch up with a consistency proof).
func (s *Service) witness(ctx context.Context, c Checkpoint, signed []byte) {
	prove := func(old int64) ([]tlog.Hash, error) {
		if old > c.Size {
			return nil, fmt.Errorf("ledger: a witness cosigned %d leaves, the log holds %d: %w", old, c.Size, ErrInconsistent)
		}
		p, err := s.Log.ProveTree(old, c.Size)
		return []tlog.Hash(p), err
	}
	lines, err := s.Cosign(ctx, signed, c.Size, prove)
	if err != nil {
		s.Logger.Error("checkpoint not witnessed", "size", c.Size, "err", err.Error())
		return
	}
	cosigned := append(bytes.TrimRight(signed, "\n"), '\n')
	cosigned = append(cosigned, lines...)
	body, _ := json.Marshal(Signed{Origin: c.Origin, Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root[:]), Note: string(cosigned)})
	now := s.Now().UTC()
	meta, _ := json.Marshal(map[string]any{"recorded_at": now, "occurred_at": now, "source_system": "ledger",
		"actor": map[string]string{"user_id": "ledger", "role": "system", "agency": ""}})
	id, err := uuid.NewV7()
	if err == nil {
		_, err = s.Store.Append(ctx, CheckpointStream, eventstore.Any, []eventstore.EventData{{ID: id, Type: CosignedType, Data: body, Metadata: meta}})
	}
	if err != nil {
		s.Logger.Error("cosigned checkpoint not kept", "size", c.Size, "err", err.Error())
		return
	}
	if s.NATS != nil {
		if err := s.NATS.Publish(Subject, body); err != nil {
			s.Logger.Warn("cosigned checkpoint not published on NATS", "size", c.Size, "err", err)
		}
	}
	s.Logger.Info("checkpoint witnessed", "size", c.Size)
}

// Run signs a checkpoint every interval (default one minute) until ctx
// ends, then a last one.
func (s *Service) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err := s.SignNow(sctx)
			return err
		case <-t.C:
			if _, _, err := s.SignNow(ctx); err != nil {
				if errors.Is(err, ErrInconsistent) || errors.Is(err, ErrUnsigned) || errors.Is(err, ErrUnknownWriter) || errors.Is(err, ErrBadWriterSig) {
					// Never sign past an inconsistency or an event no
					// registered writer signed: the role fails, visibly
					// (its supervisor logs it and /readyz turns 503).
					return err
				}
				if ctx.Err() == nil {
					s.fault.Set(err.Error())
				}
			} else {
				s.fault.Clear()
			}
		}
	}
}

// Fault is why checkpoints are not being signed, nil when they are.
func (s *Service) Fault() error { return s.fault.Err() }

// Root is a convenience for tests and tools: the root of the whole log.
func (l *Log) Root() (tlog.Hash, error) { return l.TreeHash(l.Size()) }

// Fresh brings the log up to the record and returns it, for proofs read
// while the service runs (the catch-up is the service's, so the two never
// append at once).
func (s *Service) Fresh(ctx context.Context) (*Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	return s.Log, nil
}

// Follower keeps a log in memory for a process that proves but does not
// sign (the API role on its own): each call catches up with the record.
type Follower struct {
	Store eventstore.Reader
	mu    sync.Mutex
	log   *Log
}

// Fresh brings the follower's log up to the record and returns it.
func (f *Follower) Fresh(ctx context.Context) (*Log, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log == nil {
		f.log = NewMemory()
	}
	if _, err := f.log.CatchUp(ctx, f.Store, nil); err != nil {
		return nil, err
	}
	return f.log, nil
}
