package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/eventstore/storetest"
	"github.com/google/uuid"
)

func openTemp(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventstore.Store { return openTemp(t) }, storetest.Options{GlobalEventIDs: true})
}

func TestCorruptFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database, just some bytes\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(context.Background(), path, sqlite.Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("garbage file: %v", err)
	}
	// A SQLite file that is someone else's database is not ours either.
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(context.Background(), other, sqlite.Options{}); !errors.Is(err, eventstore.ErrCorrupt) {
		t.Fatalf("foreign database: %v", err)
	}
}

// TestDamagedPagesFailReads damages the middle of a store file: opening or
// reading fails with an error, never a panic, and never returns altered
// events as good ones (the chain would not verify).
func TestDamagedPagesFailReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream := storetest.Stream()
	for range 50 {
		if _, err := s.Append(context.Background(), stream, eventstore.Any, storetest.Events(20)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+8192 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		return // refused at open: fine
	}
	defer s.Close()
	var recs []eventstore.Record
	for after := eventstore.Start; ; {
		page, err := s.ReadAll(context.Background(), after, 100)
		if err != nil {
			return // refused on read: fine
		}
		recs = append(recs, page...)
		if len(page) < 100 {
			break
		}
		after = page[len(page)-1].Position
	}
	if eventstore.VerifyStream(recs) == nil && len(recs) == 1000 {
		t.Fatal("damaged file read back as 1000 good events")
	}
}

// TestFullDisk fills the database to its page limit: the append that does
// not fit fails with a clear error and writes nothing, everything
// acknowledged before stays readable and verified, and the store keeps
// serving reads.
func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{MaxPages: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stream := storetest.Stream()
	acked := 0
	var full error
	for range 1000 {
		ev := storetest.Events(5)
		for i := range ev {
			ev[i].Data = []byte(`{"pad":"` + strings.Repeat("x", 2000) + `"}`)
		}
		if _, err := s.Append(ctx, stream, eventstore.Any, ev); err != nil {
			full = err
			break
		}
		acked += 5
	}
	if full == nil || !strings.Contains(full.Error(), "full") {
		t.Fatalf("no full-disk error after %d events: %v", acked, full)
	}
	recs, err := s.ReadStream(ctx, stream, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != acked {
		t.Fatalf("%d events acknowledged, %d stored", acked, len(recs))
	}
	if b := eventstore.VerifyStream(recs); b != nil {
		t.Fatal(b)
	}
}

func TestSecondProcessIsLockedOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(context.Background(), path, sqlite.Options{}); !errors.Is(err, sqlite.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	s.Close()
	s, err = sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen after close: %v", err)
	}
	s.Close()
}

// TestClosedStore: calls after Close fail with ErrClosed; appends answered
// before Close stay.
func TestClosedStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream := storetest.Stream()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := s.Append(ctx, stream, eventstore.Any, storetest.Events(1)); err != nil {
					if !errors.Is(err, eventstore.ErrClosed) {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	s.Close()
	wg.Wait()
	if _, err := s.ReadAll(ctx, eventstore.Start, 1); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.ReadStream(ctx, stream, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != acked {
		t.Fatalf("%d appends acknowledged, %d stored", acked, len(recs))
	}
}

// TestOpensInSqlite3 checks what README promises an auditor: the stock
// sqlite3 tool reads the file. It runs where sqlite3 is installed
// (scripts/test.sh installs it).
func TestOpensInSqlite3(t *testing.T) {
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sqlite3 is not installed; scripts/test.sh installs it")
		}
		t.Skip("sqlite3 not installed")
	}
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream := storetest.Stream()
	if _, err := s.Append(context.Background(), stream, eventstore.NoStream, storetest.Events(3)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := exec.Command(bin, "-readonly", path, "SELECT stream, version, type, hex(hash) FROM events ORDER BY position; PRAGMA integrity_check;").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), stream+"|2|test.event|") || !strings.Contains(string(out), "\nok") {
		t.Fatalf("sqlite3 output:\n%s", out)
	}
}

func TestReadOnlyBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	if _, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
	w, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stream := storetest.Stream()
	if _, err := w.Append(ctx, stream, eventstore.NoStream, storetest.Events(3)); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if recs, err := r.ReadStream(ctx, stream, 0, 10); err != nil || len(recs) != 3 {
		t.Fatalf("read beside the writer: %d, %v", len(recs), err)
	}
	if _, err := r.Append(ctx, stream, eventstore.Any, storetest.Events(1)); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("append on a read-only store: %v", err)
	}
	// It sees what the writer commits after it opened.
	if _, err := w.Append(ctx, stream, eventstore.Exact(2), storetest.Events(1)); err != nil {
		t.Fatal(err)
	}
	if recs, err := r.ReadStream(ctx, stream, 0, 10); err != nil || len(recs) != 4 {
		t.Fatalf("later read: %d, %v", len(recs), err)
	}
}

// TestStreamsBetween: the streams between two names that hold events, each
// once, found through the wrappers a store may be behind.
func TestStreamsBetween(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, stream := range []string{"access-2024-01-01", "access-2024-01-01", "access-2024-01-03", "access-2025-02-01", "ledger-checkpoints", "case-" + uuid.NewString()} {
		id := uuid.New()
		if _, err := s.Append(ctx, stream, eventstore.Any, []eventstore.EventData{{ID: id, Type: "t", Data: []byte(`{}`), Metadata: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	var r eventstore.Reader = wrapped{s}
	l, ok := eventstore.Find[eventstore.StreamLister](r)
	if !ok {
		t.Fatal("the store's lister is not found through its wrapper")
	}
	got, err := l.StreamsBetween(ctx, "access-2024-01-01", "access-2024-12-31")
	if err != nil || !slices.Equal(got, []string{"access-2024-01-01", "access-2024-01-03"}) {
		t.Fatalf("streams of 2024: %v %v", got, err)
	}
	if got, err := l.StreamsBetween(ctx, "access-2023-01-01", "access-2023-12-31"); err != nil || len(got) != 0 {
		t.Fatalf("streams of 2023: %v %v", got, err)
	}
}

// wrapped is a store behind a wrapper, as personal.Store and
// ledger.SigningStore are.
type wrapped struct{ eventstore.Store }

func (w wrapped) Unwrap() eventstore.Store { return w.Store }
