package personal_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/google/uuid"
)

// TestKeys: a value opens under its key until the key is destroyed, then
// reads as erased; a key this store never held is not an erasure; another
// master key is refused at open; an altered value is refused.
func TestKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	master[0] = 1
	path, erased := filepath.Join(dir, "keys.db"), filepath.Join(dir, "erased")
	k, err := personal.OpenKeys(ctx, path, master, erased)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.Encrypt(ctx, "ca", "Client is staying with her sister")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "sister") {
		t.Fatalf("stored in clear: %s", v)
	}
	if got, err := k.Decrypt(ctx, v); err != nil || got != "Client is staying with her sister" {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	altered := v[:len(v)-2] + "AA"
	if _, err := k.Decrypt(ctx, altered); err == nil {
		t.Fatal("an altered value opened")
	}
	other, err := k.Encrypt(ctx, "cb", "another case's note")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "ca", "erased under rule r1 on 2031-01-02"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ctx, v); !errors.Is(err, personal.ErrErased) {
		t.Fatalf("after Destroy: %v", err)
	}
	if b, err := k.DecryptJSON(ctx, []byte(`{"text":"`+v+`"}`)); err != nil || string(b) != `{"text":"[erased under rule r1 on 2031-01-02]"}` {
		t.Fatalf("an erased value reads %s (%v), want what its erasure recorded", b, err)
	}
	if _, err := k.Encrypt(ctx, "ca", "again"); !errors.Is(err, personal.ErrErased) {
		t.Fatalf("a destroyed subject got a new key: %v", err)
	}
	if got, err := k.Decrypt(ctx, other); err != nil || got != "another case's note" {
		t.Fatalf("another case after Destroy: %q, %v", got, err)
	}
	k.Close()

	// A key store that never held the key: not erased.
	k2, err := personal.OpenKeys(ctx, filepath.Join(dir, "elsewhere.db"), master, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Decrypt(ctx, other); !errors.Is(err, personal.ErrNoKey) {
		t.Fatalf("a key held elsewhere: %v", err)
	}
	if b, err := k2.DecryptJSON(ctx, []byte(`{"text":"`+other+`"}`)); err == nil {
		t.Fatalf("DecryptJSON shows a key held elsewhere as %s", b)
	}
	k2.Close()

	// Another master key is refused at open.
	wrong := make([]byte, 32)
	if _, err := personal.OpenKeys(ctx, path, wrong, erased); !errors.Is(err, personal.ErrMasterKey) {
		t.Fatalf("another master key: %v", err)
	}
}

// TestSealedDigest: behind personal.Store a command's digest is sealed
// (no plain SHA-256 of its personal values in the record), a retry is
// still absorbed and a reused id with other personal text still refused;
// once the subject's key is destroyed, nothing can be compared and a
// reused id is taken as a retry (the record keeps what it had).
func TestSealedDigest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := personal.OpenKeys(ctx, filepath.Join(dir, "keys.db"), make([]byte, 32), filepath.Join(dir, "erased"))
	if err != nil {
		t.Fatal(err)
	}
	store := personal.Store{Store: st, Keys: keys}
	defer store.Close()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	caseID := uuid.New()
	actor := domain.Actor{UserID: "sup", Role: domain.RoleSupervisor, Agency: "police-a"}
	hdr := func() domain.CommandHeader {
		return domain.CommandHeader{CaseID: caseID, CommandID: uuid.New(), Actor: actor, OccurredAt: at, SourceSystem: "rms"}
	}
	if _, _, err := casefile.Execute(ctx, store, domain.OpenCase{CommandHeader: hdr(), CaseOpened: domain.CaseOpened{Module: "victim_support", Agency: "police-a"}}, now, 3); err != nil {
		t.Fatal(err)
	}
	note := domain.AddNote{CommandHeader: hdr(), NoteAdded: domain.NoteAdded{NoteID: uuid.New(), Text: "Called from 514-555-0142"}}
	if _, _, err := casefile.Execute(ctx, store, note, now, 3); err != nil {
		t.Fatal(err)
	}
	_, recs, err := casefile.Load(ctx, store, caseID)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := domain.CommandDigest(note)
	last := string(recs[len(recs)-1].Metadata)
	if strings.Contains(last, plain) || !strings.Contains(last, `"command_digest":"h1:`) {
		t.Fatalf("the note's digest as stored: %s", last)
	}
	if res, _, err := casefile.Execute(ctx, store, note, now, 3); err != nil || !res.Duplicate {
		t.Fatalf("a retry: %+v %v", res, err)
	}
	other := note
	other.Text = "Called from 514-555-0199"
	if _, _, err := casefile.Execute(ctx, store, other, now, 3); !errors.Is(err, domain.ErrConflictingDuplicate) {
		t.Fatalf("a reused id with other text: %v", err)
	}
	if err := keys.Destroy(ctx, personal.CaseSubject(caseID), ""); err != nil {
		t.Fatal(err)
	}
	if res, _, err := casefile.Execute(ctx, store, other, now, 3); err != nil || !res.Duplicate {
		t.Fatalf("a reused id once the key is gone: %+v %v", res, err)
	}
}

// TestOlderKeyStoreGainsColumns: a key store made before erasures kept
// their note and keys their recorded mark opens, and gains both.
func TestOlderKeyStoreGainsColumns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE data_keys (subject TEXT PRIMARY KEY, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL);
		CREATE TABLE destroyed_keys (subject TEXT PRIMARY KEY, destroyed_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	k, err := personal.OpenKeys(ctx, path, make([]byte, 32), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt(ctx, "cx", "v"); err != nil {
		t.Fatal(err)
	}
	if err := k.Destroy(ctx, "cx", "erased on request on 2026-12-03"); err != nil {
		t.Fatal(err)
	}
	if n, err := k.Unrecorded(ctx, 10); err != nil || len(n) != 0 {
		t.Fatalf("unrecorded keys: %v %v", n, err)
	}
	k.Close()
}
