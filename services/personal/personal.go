// Package personal keeps personal data encrypted at rest, each value under
// its data subject's key, so that destroying the key erases the value for
// good while the record, its chains and its proofs stay whole.
//
// Every field the domain tags `cl:"personal"` (notes, descriptions,
// safe-contact details, addresses…) is encrypted when it is appended
// (Store), with AES-256-GCM under a data key of its own subject; the event
// keeps its ids, type, dates, codes and compartment in clear. The chain and
// the Merkle leaves are computed over the stored, encrypted bytes, so they
// are the same whether the key still exists or not. A stored value reads
//
//	cl:enc1:<subject>:<base64url(nonce ‖ ciphertext ‖ tag)>
//
// where the subject is "c" and the case id (a person's key, "p" and the
// person id, is the next step), and the subject is the AEAD's additional
// data: a value cannot be moved to another subject's key.
//
// Data keys live in a key store apart from the record (Keys: its own SQLite
// file in the data directory), each wrapped by a master key kept in the keys
// directory, never in the data directory. Reading decrypts only for display
// (Decrypt, DecryptJSON); projections, the relay and NATS carry the
// encrypted form.
package personal

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
	_ "modernc.org/sqlite" // the key store's driver
)

// Errors.
var (
	// ErrErased is returned for a value whose key was destroyed.
	ErrErased = errors.New("personal: erased")
	// ErrMasterKey is returned when the master key does not unwrap the
	// key store's keys (another master key, or a damaged one).
	ErrMasterKey = errors.New("personal: the master key does not open the key store")
	// ErrNoKey is returned for a value whose key this key store never
	// held (another node's, or a key store restored without it): not an
	// erasure, and never shown as one.
	ErrNoKey = errors.New("personal: this key store holds no key for the value (not erased: the key is elsewhere)")
	errValue = errors.New("personal: not an encrypted value")
)

// ErasedError is ErrErased with what the erasure recorded: "erased under
// rule R on D" or "erased on request on D" (empty when not known, as for
// a key destroyed from the erased list alone).
type ErasedError struct{ Note string }

func (e *ErasedError) Error() string {
	if e.Note == "" {
		return ErrErased.Error()
	}
	return ErrErased.Error() + " (" + e.Note + ")"
}

// Is makes an ErasedError match ErrErased.
func (e *ErasedError) Is(target error) bool { return target == ErrErased }

// ErasedText is what stands where a value erased with err stood: "[erased
// under rule R on D]", or Erased when the erasure's note is not known.
func ErasedText(err error) string {
	var e *ErasedError
	if errors.As(err, &e) && e.Note != "" {
		return "[" + e.Note + "]"
	}
	return Erased
}

// ErasureNote says how a case's data was erased, for ErasedError.
func ErasureNote(e *domain.Erasure) string {
	on := e.At.UTC().Format(time.DateOnly)
	if e.Rule != "" {
		return "erased under rule " + e.Rule + " on " + on
	}
	return "erased on request on " + on
}

// MasterKeyFile is the master key's file in the keys directory.
const MasterKeyFile = "master.key"

// LoadMasterKey reads the master key (32 bytes, base64) from path, making
// one (0600, its directory 0700) when it does not exist and create is set.
func LoadMasterKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("personal: master key: %w", err)
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("personal: master key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("personal: master key %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("personal: master key %s is not 32 bytes of base64", path)
	}
	return key, nil
}

// Keys is the key store: one data key per subject, wrapped by the master
// key, cached unwrapped in memory while the process runs.
type Keys struct {
	db      *sql.DB
	master  cipher.AEAD
	erased  string // the erased subjects' list, beside the master key
	mu      sync.Mutex
	cache   map[string]cipher.AEAD
	digests map[string][]byte // command-digest keys, derived from data keys
	// Log, when set, is told of a key an erasure could not destroy at
	// once (ids only); RetryPending tries it again.
	Log     *slog.Logger
	pmu     sync.Mutex
	pending map[string]string // subject -> the erasure's note
}

// pend keeps a subject whose erasure is recorded and whose key could not
// be destroyed, for RetryPending, and says so at ERROR.
func (k *Keys) pend(subject, note string, err error) {
	k.pmu.Lock()
	defer k.pmu.Unlock()
	if k.pending == nil {
		k.pending = map[string]string{}
	}
	k.pending[subject] = note
	if k.Log != nil {
		k.Log.Error("an erasure is recorded but its key could not be destroyed yet; retried every half minute", "subject", subject, "error", err.Error())
	}
}

// RetryPending destroys the keys erasures left behind in this process;
// it returns how many are still pending.
func (k *Keys) RetryPending(ctx context.Context) int {
	k.pmu.Lock()
	defer k.pmu.Unlock()
	for subject, note := range k.pending {
		if err := k.Destroy(ctx, subject, note); err == nil {
			delete(k.pending, subject)
			if k.Log != nil {
				k.Log.Info("the key of a recorded erasure is destroyed", "subject", subject)
			}
		}
	}
	return len(k.pending)
}

// ErasedFile lists, in the keys directory beside the master key, every
// subject whose key was destroyed, one a line: a key store restored from
// an older backup forgets those keys again as it opens.
const ErasedFile = "erased-subjects"

const keysSchema = `
CREATE TABLE IF NOT EXISTS data_keys (
	subject    TEXT PRIMARY KEY,
	wrapped    BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	recorded   INTEGER NOT NULL DEFAULT 0 -- its creation is in the record (Store.RecordKeys)
);
CREATE TABLE IF NOT EXISTS destroyed_keys (
	subject      TEXT PRIMARY KEY,
	destroyed_at INTEGER NOT NULL,
	note         TEXT NOT NULL DEFAULT ''
);`

// OpenKeys opens (or makes) the key store at path with the master key.
// A new key costs one synced write of the WAL; a destroyed key is
// overwritten in the file (secure_delete) and the WAL is emptied after it,
// so that no copy of it stays in either. erased is the list
// of erased subjects (ErasedFile in the keys directory): every key it names
// is destroyed as the store opens, so that restoring an older backup of
// the key store resurrects no erased key.
func OpenKeys(ctx context.Context, path string, master []byte, erased string) (*Keys, error) {
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=secure_delete(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, keysSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("personal: key store %s: %w", path, err)
	}
	// A key store made before erasures carried their note, or before keys'
	// creation was recorded, gains the column.
	for _, c := range []struct{ table, column, decl string }{
		{"destroyed_keys", "note", "TEXT NOT NULL DEFAULT ''"},
		{"data_keys", "recorded", "INTEGER NOT NULL DEFAULT 0"},
	} {
		if err := addColumn(ctx, db, c.table, c.column, c.decl); err != nil {
			db.Close()
			return nil, fmt.Errorf("personal: key store %s: %w", path, err)
		}
	}
	k := &Keys{db: db, master: aead, erased: erased, cache: map[string]cipher.AEAD{}}
	if err := k.forgetErased(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// The master key must open what is there: a wrong one stops here,
	// before anything is encrypted under a key it could not read back.
	var subject string
	var wrapped []byte
	err = db.QueryRowContext(ctx, `SELECT subject, wrapped FROM data_keys LIMIT 1`).Scan(&subject, &wrapped)
	if err == nil {
		if _, err := k.unwrap(subject, wrapped); err != nil {
			db.Close()
			return nil, err
		}
	} else if !errors.Is(err, sql.ErrNoRows) {
		db.Close()
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	return k, nil
}

// Close closes the key store.
func (k *Keys) Close() error { return k.db.Close() }

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("personal: a key is 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// CaseSubject is the subject of a case's own key: the values about the
// case as a whole (notes, reasons, outcomes, descriptions).
func CaseSubject(caseID uuid.UUID) string { return "c" + caseID.String() }

// PartySubject is the subject of the key of the values about one party of
// a case (the events whose field tagged `cl:"subject"` names it): erasing
// a person destroys the keys of the parties that are that person.
func PartySubject(caseID, partyID uuid.UUID) string {
	return "p" + caseID.String() + "." + partyID.String()
}

// EventSubject is the subject an event's personal values are encrypted
// under.
func EventSubject(caseID uuid.UUID, data any) string {
	if party := domain.SubjectParty(data); party != uuid.Nil {
		return PartySubject(caseID, party)
	}
	return CaseSubject(caseID)
}

// encryptedSubject finds the subject of each encrypted value in stored
// bytes.
var encryptedSubject = regexp.MustCompile(`cl:enc1:([a-z0-9.-]+):`)

// SubjectsIn lists the subjects of the values encrypted in stored bytes,
// each once, in the order they first appear.
func SubjectsIn(data []byte) []string {
	var out []string
	for _, m := range encryptedSubject.FindAllSubmatch(data, -1) {
		if s := string(m[1]); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Subjects lists every key a case may hold: its own and its parties'.
func Subjects(s domain.State) []string {
	out := []string{CaseSubject(s.ID)}
	for id := range s.Parties {
		out = append(out, PartySubject(s.ID, id))
	}
	return out
}

// ErasedKey is a key a recorded erasure destroyed.
type ErasedKey struct {
	Subject string
	Note    string
}

// ErasedKeys lists the keys the case's recorded erasures destroyed: those
// its state says were erased (the case's own and all its parties' after
// the case's erasure; a person's parties' after theirs).
func ErasedKeys(s domain.State) []ErasedKey {
	var out []ErasedKey
	if s.Erased != nil {
		out = append(out, ErasedKey{CaseSubject(s.ID), ErasureNote(s.Erased)})
	}
	for id, p := range s.Parties {
		if p.Erased != nil {
			out = append(out, ErasedKey{PartySubject(s.ID, id), ErasureNote(p.Erased)})
		}
	}
	return out
}

func (k *Keys) unwrap(subject string, wrapped []byte) (cipher.AEAD, error) {
	key, err := k.unwrapRaw(subject, wrapped)
	if err != nil {
		return nil, err
	}
	return newAEAD(key)
}

func (k *Keys) unwrapRaw(subject string, wrapped []byte) ([]byte, error) {
	n := k.master.NonceSize()
	if len(wrapped) < n {
		return nil, ErrMasterKey
	}
	key, err := k.master.Open(nil, wrapped[:n], wrapped[n:], []byte("caseledger/data-key/v1:"+subject))
	if err != nil {
		return nil, ErrMasterKey
	}
	return key, nil
}

// DataKey returns a subject's data key itself, for a disclosure bundle that
// lets its recipient decrypt what it discloses (ErrErased once destroyed,
// ErrNoKey when this store never held it).
func (k *Keys) DataKey(ctx context.Context, subject string) ([]byte, error) {
	var wrapped []byte
	err := k.db.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE subject = ?`, subject).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		var note string
		if k.db.QueryRowContext(ctx, `SELECT note FROM destroyed_keys WHERE subject = ?`, subject).Scan(&note) == nil {
			return nil, &ErasedError{Note: note}
		}
		return nil, ErrNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	return k.unwrapRaw(subject, wrapped)
}

// Ensure makes the keys the subjects do not have yet, in one synced
// transaction (an append that brings a case and its parties costs one
// write of the key store, not one per subject); a destroyed subject is
// ErrErased.
func (k *Keys) Ensure(ctx context.Context, subjects []string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	type made struct {
		subject string
		wrapped []byte
		aead    cipher.AEAD
	}
	var missing []made
	for _, subject := range subjects {
		if _, ok := k.cache[subject]; ok || slices.ContainsFunc(missing, func(m made) bool { return m.subject == subject }) {
			continue
		}
		a, err := k.lookup(ctx, subject)
		if err == nil {
			k.cache[subject] = a
			continue
		}
		if !errors.Is(err, ErrNoKey) {
			return err
		}
		key, wrapped, err := k.newKey(subject)
		if err != nil {
			return err
		}
		a, err = newAEAD(key)
		if err != nil {
			return err
		}
		missing = append(missing, made{subject, wrapped, a})
	}
	if len(missing) == 0 {
		return nil
	}
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().UnixMicro()
	for _, m := range missing {
		if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (subject, wrapped, created_at) VALUES (?, ?, ?)`, m.subject, m.wrapped, now); err != nil {
			return fmt.Errorf("personal: key store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	for _, m := range missing {
		k.cache[m.subject] = m.aead
	}
	return nil
}

// lookup returns the subject's key from the store (not the cache):
// ErasedError when it was destroyed, ErrNoKey when there is none.
func (k *Keys) lookup(ctx context.Context, subject string) (cipher.AEAD, error) {
	var wrapped []byte
	err := k.db.QueryRowContext(ctx, `SELECT wrapped FROM data_keys WHERE subject = ?`, subject).Scan(&wrapped)
	if err == nil {
		return k.unwrap(subject, wrapped)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	var note string
	if err := k.db.QueryRowContext(ctx, `SELECT note FROM destroyed_keys WHERE subject = ?`, subject).Scan(&note); err == nil {
		return nil, &ErasedError{Note: note}
	}
	return nil, ErrNoKey
}

// newKey makes a data key and its wrapped form for subject.
func (k *Keys) newKey(subject string) (key, wrapped []byte, err error) {
	key = make([]byte, 32)
	nonce := make([]byte, k.master.NonceSize())
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return key, k.master.Seal(nonce, nonce, key, []byte("caseledger/data-key/v1:"+subject)), nil
}

// key returns the subject's data key, making it when create is set and
// there is none; ErrErased when it was destroyed.
func (k *Keys) key(ctx context.Context, subject string, create bool) (cipher.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.cache[subject]; ok {
		return a, nil
	}
	a, err := k.lookup(ctx, subject)
	if err == nil {
		k.cache[subject] = a
		return a, nil
	}
	if !errors.Is(err, ErrNoKey) || !create {
		return nil, err
	}
	key, wrapped, err := k.newKey(subject)
	if err != nil {
		return nil, err
	}
	if _, err := k.db.ExecContext(ctx, `INSERT INTO data_keys (subject, wrapped, created_at) VALUES (?, ?, ?)`, subject, wrapped, time.Now().UnixMicro()); err != nil {
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	if a, err = newAEAD(key); err != nil {
		return nil, err
	}
	k.cache[subject] = a
	return a, nil
}

// forgetErased destroys every key the erased list names that the store
// still holds.
func (k *Keys) forgetErased(ctx context.Context) error {
	if k.erased == "" {
		return nil
	}
	b, err := os.ReadFile(k.erased)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("personal: erased subjects: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		// subject, time, and the erasure's note when known
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if f[0] == "" {
			continue
		}
		note := ""
		if len(f) == 3 {
			note = f[2]
		}
		if err := k.destroy(ctx, f[0], note); err != nil {
			return err
		}
	}
	return k.checkpoint(ctx)
}

// Held reports whether the key store still holds the subject's key.
func (k *Keys) Held(ctx context.Context, subject string) (bool, error) {
	var n int
	if err := k.db.QueryRowContext(ctx, `SELECT count(*) FROM data_keys WHERE subject = ?`, subject).Scan(&n); err != nil {
		return false, fmt.Errorf("personal: key store: %w", err)
	}
	return n > 0, nil
}

// Destroy destroys the subject's data key: every value encrypted under it
// is erased for good. The subject is first added to the erased list (so
// that an interrupted destruction, or a restored key store, is finished at
// the next open). It is idempotent.
func (k *Keys) Destroy(ctx context.Context, subject, note string) error {
	if k.erased != "" {
		f, err := os.OpenFile(k.erased, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("personal: erased subjects: %w", err)
		}
		line := subject + " " + time.Now().UTC().Format(time.RFC3339)
		if note != "" {
			line += " " + strings.ReplaceAll(note, "\n", " ")
		}
		_, err = fmt.Fprintln(f, line)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("personal: erased subjects: %w", err)
		}
	}
	return k.destroy(ctx, subject, note)
}

func (k *Keys) destroy(ctx context.Context, subject, note string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.cache, subject)
	delete(k.digests, subject)
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM data_keys WHERE subject = ?`, subject)
	if err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO destroyed_keys (subject, destroyed_at, note) VALUES (?, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET note = excluded.note WHERE destroyed_keys.note = ''`, subject, time.Now().UnixMicro(), note); err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // destroyed before (and checkpointed then, or at open)
	}
	return k.checkpoint(ctx)
}

// checkpoint copies the WAL back and truncates it: it still holds the
// pages with a destroyed key as they were.
func (k *Keys) checkpoint(ctx context.Context) error {
	if _, err := k.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	return nil
}

// Encrypt encrypts a personal value under subject's key (made on first
// use).
func (k *Keys) Encrypt(ctx context.Context, subject, plaintext string) (string, error) {
	a, err := k.key(ctx, subject, true)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := a.Seal(nonce, nonce, []byte(plaintext), []byte(subject))
	return domain.EncryptedPrefix + subject + ":" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Decrypt returns a stored personal value in clear: the value itself when
// it is not encrypted (recorded before encryption), ErrErased when its key
// was destroyed.
func (k *Keys) Decrypt(ctx context.Context, value string) (string, error) {
	if !domain.IsEncrypted(value) {
		return value, nil
	}
	subject, b64, ok := strings.Cut(strings.TrimPrefix(value, domain.EncryptedPrefix), ":")
	if !ok {
		return "", errValue
	}
	sealed, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", errValue
	}
	a, err := k.key(ctx, subject, false)
	if err != nil {
		return "", err
	}
	n := a.NonceSize()
	if len(sealed) < n {
		return "", errValue
	}
	plain, err := a.Open(nil, sealed[:n], sealed[n:], []byte(subject))
	if err != nil {
		return "", fmt.Errorf("personal: a value does not open under its key (altered?): %w", errValue)
	}
	return string(plain), nil
}

// RotateMaster wraps every data key again under a new master key, in one
// transaction: afterwards the old master key opens nothing. The caller
// keeps the new key where the old one was (see cmd: rotate-master-key),
// having written it durably before the rotation commits.
func (k *Keys) RotateMaster(ctx context.Context, next []byte) (int, error) {
	aead, err := newAEAD(next)
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("personal: key store: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT subject, wrapped FROM data_keys`)
	if err != nil {
		return 0, fmt.Errorf("personal: key store: %w", err)
	}
	type rewrapped struct {
		subject string
		wrapped []byte
	}
	var all []rewrapped
	for rows.Next() {
		var r rewrapped
		if err := rows.Scan(&r.subject, &r.wrapped); err != nil {
			rows.Close()
			return 0, err
		}
		key, err := k.unwrapRaw(r.subject, r.wrapped)
		if err != nil {
			rows.Close()
			return 0, err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			rows.Close()
			return 0, err
		}
		r.wrapped = aead.Seal(nonce, nonce, key, []byte("caseledger/data-key/v1:"+r.subject))
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped = ? WHERE subject = ?`, r.wrapped, r.subject); err != nil {
			return 0, fmt.Errorf("personal: key store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("personal: key store: %w", err)
	}
	k.master = aead
	// The WAL held the keys wrapped the old way: emptied.
	if _, err := k.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return len(all), fmt.Errorf("personal: key store: %w", err)
	}
	return len(all), nil
}

// Unrecorded lists (up to limit) the keys whose creation is not yet in the
// record, oldest first.
func (k *Keys) Unrecorded(ctx context.Context, limit int) ([]string, error) {
	rows, err := k.db.QueryContext(ctx, `SELECT subject FROM data_keys WHERE recorded = 0 ORDER BY created_at, subject LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("personal: key store: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("personal: key store: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// MarkRecorded marks keys whose creation the record now holds.
func (k *Keys) MarkRecorded(ctx context.Context, subjects []string) error {
	tx, err := k.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	defer tx.Rollback()
	for _, s := range subjects {
		if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET recorded = 1 WHERE subject = ?`, s); err != nil {
			return fmt.Errorf("personal: key store: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("personal: key store: %w", err)
	}
	return nil
}

// addColumn adds a column to a table of the key store unless it has it.
func addColumn(ctx context.Context, db *sql.DB, table, column, decl string) error {
	var has int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&has); err != nil || has > 0 {
		return err
	}
	_, err := db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl)
	return err
}
