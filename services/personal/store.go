package personal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/google/uuid"
)

// Store encrypts the personal fields of every case event appended through
// it, under the case's key, and appends the result to the store it wraps;
// reads pass through (the stored, encrypted form). Events of other streams
// (access records, checkpoints) hold no personal data and pass unchanged.
type Store struct {
	eventstore.Store
	Keys *Keys
}

var _ eventstore.Store = Store{}

// Unwrap returns the store it encrypts for (eventstore.Find).
func (s Store) Unwrap() eventstore.Store { return s.Store }

// Close records the creation of the keys not yet in the record, then
// closes the store and the key store.
func (s Store) Close() error {
	if _, err := s.RecordKeys(context.Background()); err != nil && s.Keys.Log != nil {
		s.Keys.Log.Warn("the creation of some data keys is not in the record yet; recorded at the next start", "error", err.Error())
	}
	err := s.Store.Close()
	if kerr := s.Keys.Close(); err == nil {
		err = kerr
	}
	return err
}

// Append encrypts, then appends.
func (s Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	caseID, err := casefile.CaseID(stream)
	if err != nil {
		return s.Store.Append(ctx, stream, expected, events)
	}
	out := make([]eventstore.EventData, len(events))
	var destroy []ErasedKey // the keys of erasures among events
	type sealing struct {
		i       int
		ev      domain.Event
		subject string
	}
	var seal []sealing
	var subjects []string
	for i, e := range events {
		out[i] = e
		if e.Type == erasedType {
			ev, err := domain.DecodeStored(e.ID, caseID, e.Type, e.Data, e.Metadata)
			if err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidEvent, err)
			}
			destroy = append(destroy, ErasureKeys(caseID, ev)...)
			continue
		}
		if !domain.HoldsPersonal(e.Type) {
			continue // nothing to encrypt: kept as it is
		}
		ev, err := domain.DecodeStored(e.ID, caseID, e.Type, e.Data, e.Metadata)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("%w: %w", eventstore.ErrInvalidEvent, err)
		}
		subject := EventSubject(caseID, ev.Data)
		seal = append(seal, sealing{i, ev, subject})
		subjects = append(subjects, subject)
	}
	// Every key these events need, made in one write of the key store.
	if err := s.Keys.Ensure(ctx, subjects); err != nil {
		return eventstore.AppendResult{}, err
	}
	for _, x := range seal {
		changed := false
		sealed, err := domain.MapPersonal(x.ev.Data, func(_, v string) (string, error) {
			if v == "" || domain.IsEncrypted(v) {
				return v, nil
			}
			changed = true
			return s.Keys.Encrypt(ctx, x.subject, v)
		})
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if changed {
			if _, _, out[x.i].Data, err = domain.EncodeData(sealed); err != nil {
				return eventstore.AppendResult{}, err
			}
		}
	}
	res, err := s.Store.Append(ctx, stream, expected, out)
	if err != nil {
		return res, err
	}
	// The erasure is recorded: its keys go now. If that fails (the keys
	// directory full or read-only), or the process is killed in between,
	// the append still succeeded: the erasure stands, and this process
	// retries (RetryPending), serve's replay of recorded erasures at start
	// or `erase` run again destroys the keys, saying so.
	for _, k := range destroy {
		if err := s.Keys.Destroy(ctx, k.Subject, k.Note); err != nil {
			s.Keys.pend(k.Subject, k.Note, err)
		}
	}
	return res, nil
}

// ErasureKeys lists the keys a case.personal_data_erased event destroys
// (none for another event).
func ErasureKeys(caseID uuid.UUID, ev domain.Event) []ErasedKey {
	d, ok := ev.Data.(domain.PersonalDataErased)
	if !ok {
		return nil
	}
	note := ErasureNote(&domain.Erasure{Rule: d.Rule, At: ev.Meta.RecordedAt})
	var out []ErasedKey
	if d.Scope != domain.ErasureScopePerson {
		out = append(out, ErasedKey{CaseSubject(caseID), note})
	}
	for _, p := range d.PartyIDs {
		out = append(out, ErasedKey{PartySubject(caseID, p), note})
	}
	return out
}

// erasedType is the event after which a case's key is destroyed.
var erasedType = domain.SpecOf(domain.PersonalDataErased{}).Type

// Erased is what stands where an erased value stood.
const Erased = "[erased]"

// DecryptJSON returns the JSON value b with every encrypted personal value
// in clear (Erased where its key was destroyed); b is returned as it was
// when it holds none.
func (k *Keys) DecryptJSON(ctx context.Context, b []byte) ([]byte, error) {
	if !containsEncrypted(b) {
		return b, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	v, err := k.decryptAny(ctx, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func containsEncrypted(b []byte) bool {
	return len(b) > 0 && json.Valid(b) && bytes.Contains(b, []byte(domain.EncryptedPrefix))
}

func (k *Keys) decryptAny(ctx context.Context, v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !domain.IsEncrypted(x) {
			return x, nil
		}
		s, err := k.Decrypt(ctx, x)
		if errors.Is(err, ErrErased) {
			return ErasedText(err), nil
		}
		return s, err
	case []any:
		for i := range x {
			d, err := k.decryptAny(ctx, x[i])
			if err != nil {
				return nil, err
			}
			x[i] = d
		}
	case map[string]any:
		for key, val := range x {
			d, err := k.decryptAny(ctx, val)
			if err != nil {
				return nil, err
			}
			x[key] = d
		}
	}
	return v, nil
}

// RecordKeys appends to the day's access stream one
// access.data_keys_created event (actor system) for the keys whose
// creation is not yet in the record, then marks them; it returns how many.
// A key is made, durably, before the first value under it is stored; its
// creation is recorded right after, in batches (serve every two seconds,
// and as the store closes), and whatever a crash left unrecorded is
// recorded at the next call. The event's id comes from its subjects, so a
// batch appended twice is stored once.
func (s Store) RecordKeys(ctx context.Context) (int, error) {
	n := 0
	for {
		subjects, err := s.Keys.Unrecorded(ctx, 500)
		if err != nil || len(subjects) == 0 {
			return n, err
		}
		now := time.Now().UTC()
		id := uuid.NewSHA1(keysCreatedSpace, []byte(strings.Join(subjects, "\n")))
		e := domain.Event{ID: id, Meta: domain.Meta{Actor: domain.Actor{UserID: "caseledger", Role: domain.RoleSystem, Agency: "caseledger"},
			OccurredAt: now, RecordedAt: now, SourceSystem: "caseledger-keys", Compartment: domain.CompartmentPolice},
			Data: domain.DataKeysCreated{Subjects: subjects}}
		typ, data, meta, err := domain.EncodeStored(e)
		if err != nil {
			return n, err
		}
		_, err = s.Store.Append(ctx, casefile.AccessStream(now), eventstore.Any, []eventstore.EventData{{ID: id, Type: typ, Data: data, Metadata: meta}})
		if err != nil && !errors.Is(err, eventstore.ErrDuplicateEventID) {
			return n, fmt.Errorf("personal: recording the creation of data keys: %w", err)
		}
		if err := s.Keys.MarkRecorded(ctx, subjects); err != nil {
			return n, err
		}
		n += len(subjects)
	}
}

// keysCreatedSpace names the ids of access.data_keys_created events.
var keysCreatedSpace = uuid.MustParse("5b0c3a52-6d0e-4c8e-9a43-6c1c2f7d9e11")

var _ casefile.DigestSealer = Store{}

// SealDigest keeps a command's digest as "h1:" and the HMAC-SHA256 of it
// under a key derived from the data key of the command's subject (the
// party it is about, or the case): without that key the digest tells
// nothing of the command's personal values, and once the key is destroyed
// nobody can test a guess against it. It returns "" for a subject whose
// key was destroyed (the command is then taken as a retry).
func (s Store) SealDigest(ctx context.Context, caseID uuid.UUID, cmd domain.Command, digest string) (string, error) {
	derived, err := s.Keys.digestKey(ctx, EventSubject(caseID, cmd))
	if errors.Is(err, ErrErased) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, derived)
	mac.Write([]byte(digest))
	return "h1:" + hex.EncodeToString(mac.Sum(nil)), nil
}

// digestKey returns the key digests of the subject's commands are sealed
// with, derived from its data key (made when there is none), cached.
func (k *Keys) digestKey(ctx context.Context, subject string) ([]byte, error) {
	k.mu.Lock()
	d, ok := k.digests[subject]
	k.mu.Unlock()
	if ok {
		return d, nil
	}
	if err := k.Ensure(ctx, []string{subject}); err != nil {
		return nil, err
	}
	key, err := k.DataKey(ctx, subject)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("caseledger/command-digest/v1\n"), key...))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.digests == nil {
		k.digests = map[string][]byte{}
	}
	k.digests[subject] = sum[:]
	return sum[:], nil
}
