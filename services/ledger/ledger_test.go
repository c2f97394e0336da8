package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/caseledger/caseledger/internal/testfixture"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// TestLeafGolden freezes the leaf framing: the value was computed
// independently (Python: the tag and fields each after an 8-byte big-endian
// length, then SHA-256 over 0x00 and that).
func TestLeafGolden(t *testing.T) {
	l := ledger.Leaf{Position: "7/7", Stream: "case-0195f000-0000-7000-8000-000000000001", Version: 2, EventID: "0195f000-0000-7000-8000-0000000000aa",
		Type: "case.note_added", RecordedAt: "2025-03-03T12:01:00Z", ActorID: "off-1", ChainHash: strings.Repeat("ab", 32)}
	if got := hex.EncodeToString(func() []byte { h := l.Hash(); return h[:] }()); got != "0517c5233887b45f44cb9b3cd5e58c5b7b1e835989d47f2849957277c23c384b" {
		t.Fatalf("leaf hash %s: the framing changed", got)
	}
}

// record is a fresh store with generated cases (seed 5).
func record(t testing.TB, cases int) *sqlite.Store { return recordSeed(t, 5, cases) }

func recordSeed(t testing.TB, seed uint64, cases int) *sqlite.Store {
	st, _ := testfixture.Generated(t, seed, cases)
	return st
}

// mth is RFC 6962's Merkle tree hash, written from the RFC's definition.
func mth(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// TestTreeAndProofs: the log's roots are RFC 6962's at every size, and
// every leaf's inclusion proof and the consistency proofs between sizes
// check.
func TestTreeAndProofs(t *testing.T) {
	ctx := context.Background()
	st := record(t, 12)
	l := ledger.NewMemory()
	var recs []eventstore.Record
	n, err := l.CatchUp(ctx, st, func(p []eventstore.Record) error { recs = append(recs, p...); return nil })
	if err != nil || n < 100 {
		t.Fatalf("catch up: %d, %v", n, err)
	}
	var leaves [][32]byte
	for _, r := range recs {
		leaves = append(leaves, ledger.LeafOf(r).Hash())
	}
	for _, size := range []int64{1, 2, 3, 7, 64, 65, n - 1, n} {
		root, err := l.TreeHash(size)
		if err != nil {
			t.Fatal(err)
		}
		if want := mth(leaves[:size]); root != tlog.Hash(want) {
			t.Fatalf("root at %d: %s, RFC 6962 gives %x", size, root, want)
		}
		for i := int64(0); i < size; i += max(1, size/9) {
			p, err := l.ProveRecord(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, size, root, i, leaves[i]); err != nil {
				t.Fatalf("leaf %d in %d: %v", i, size, err)
			}
			if tlog.CheckRecord(p, size, root, i, leaves[(i+1)%size]) == nil && size > 1 {
				t.Fatalf("leaf %d's proof accepts another leaf", i)
			}
		}
		old := size / 2
		if old == 0 {
			continue
		}
		p, err := l.ProveTree(old, size)
		if err != nil {
			t.Fatal(err)
		}
		oldRoot, _ := l.TreeHash(old)
		if err := tlog.CheckTree(p, size, root, old, oldRoot); err != nil {
			t.Fatalf("consistency %d → %d: %v", old, size, err)
		}
	}
}

// TestFilesSurviveATornTail: the log's files reopen to the same root, and
// a tail torn by a crash is cut back and read again from the record.
func TestFilesSurviveATornTail(t *testing.T) {
	ctx := context.Background()
	st := record(t, 6)
	dir := t.TempDir()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CatchUp(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := l.Root()
	size := l.Size()
	if err := errors.Join(l.Sync(), l.Close()); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int64{0, 5, 32*3 + 7} {
		fi, _ := os.Stat(filepath.Join(dir, "hashes"))
		if err := os.Truncate(filepath.Join(dir, "hashes"), fi.Size()-cut); err != nil {
			t.Fatal(err)
		}
		l, err := ledger.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if cut > 0 && l.Size() >= size {
			t.Fatalf("a torn tail of %d bytes kept all %d leaves", cut, size)
		}
		if _, err := l.CatchUp(ctx, st, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := l.Root(); got != want || l.Size() != size {
			t.Fatalf("after cutting %d bytes: %d leaves, root %s; want %d, %s", cut, l.Size(), got, size, want)
		}
		l.Sync()
		l.Close()
	}
}

func service(t *testing.T, st eventstore.Store, dir string) *ledger.Service {
	t.Helper()
	keys, err := ledger.LoadOrCreateKeys(dir, "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &ledger.Service{Log: l, Keys: keys, Store: st}
}

// TestSignedCheckpoints: checkpoints are signed only when the record grew,
// land in the checkpoint stream with signatures that verify, and a rebuild
// of the log from the record alone gives every signed root.
func TestSignedCheckpoints(t *testing.T) {
	ctx := context.Background()
	st := record(t, 8)
	dir := t.TempDir()
	s := service(t, st, dir)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c1, signed, err := s.SignNow(ctx)
	if err != nil || !signed {
		t.Fatalf("first checkpoint: %v %v", signed, err)
	}
	if _, signed, _ := s.SignNow(ctx); signed {
		t.Fatal("signed again with only its own checkpoint added")
	}
	more := recordSeed(t, 77, 3) // other cases, appended to the same record
	recs, _ := more.ReadAll(ctx, eventstore.Start, 10000)
	for _, r := range recs {
		if _, err := st.Append(ctx, r.Stream, eventstore.Any, []eventstore.EventData{{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata}}); err != nil {
			t.Fatal(err)
		}
	}
	c2, signed, err := s.SignNow(ctx)
	if err != nil || !signed || c2.Size <= c1.Size {
		t.Fatalf("second checkpoint: %+v %v %v", c2, signed, err)
	}
	cps, err := ledger.ReadCheckpoints(ctx, st, s.Keys)
	if err != nil || len(cps) != 2 {
		t.Fatalf("checkpoint stream: %d, %v", len(cps), err)
	}
	// The rebuild from the record alone.
	fresh := ledger.NewMemory()
	if _, err := fresh.CatchUp(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		root, err := fresh.TreeHash(c.Size)
		if err != nil || root != c.Root {
			t.Fatalf("rebuilt root at %d: %s, signed %s (%v)", c.Size, root, c.Root, err)
		}
	}
	// Another key does not verify them.
	other, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.ReadCheckpoints(ctx, st, other); err == nil {
		t.Fatal("checkpoints verified with another key")
	}
	// A restart picks up where it was.
	s.Log.Close()
	s2 := service(t, st, dir)
	if err := s2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if last, ok := s2.Last(); !ok || last != c2 {
		t.Fatalf("after restart the last checkpoint is %+v", last)
	}
}

// TestNeverSignsPastAnInconsistency: when the log's files no longer give
// the root of the last signed checkpoint (here its stored hashes altered),
// the service refuses to start and signs nothing.
func TestNeverSignsPastAnInconsistency(t *testing.T) {
	ctx := context.Background()
	st := record(t, 5)
	dir := t.TempDir()
	s := service(t, st, dir)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
	s.Log.Close()
	path := filepath.Join(dir, "tree", "hashes")
	raw, _ := os.ReadFile(path)
	for i := 0; i < len(raw); i += 32 {
		raw[i] ^= 1 // every stored hash altered
	}
	os.WriteFile(path, raw, 0o600)
	s2 := service(t, st, dir)
	if err := s2.Start(ctx); !errors.Is(err, ledger.ErrInconsistent) {
		t.Fatalf("start over altered files: %v", err)
	}
	if _, _, err := s2.SignNow(ctx); err == nil {
		t.Fatal("signed after a failed start")
	}
	if cps, _ := ledger.ReadCheckpoints(ctx, st, s2.Keys); len(cps) != 1 {
		t.Fatalf("%d checkpoints in the stream, want the one signed before", len(cps))
	}
}

func TestKeysAndCheckpointText(t *testing.T) {
	dir := t.TempDir()
	k, err := ledger.LoadOrCreateKeys(dir, "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, ledger.SigningKeyFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("signing key mode %o", fi.Mode().Perm())
	}
	again, err := ledger.LoadOrCreateKeys(dir, "caseledger.test/ledger")
	if err != nil || again.VerifierKey != k.VerifierKey {
		t.Fatalf("reloaded key differs: %v", err)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, ledger.PublicKeyFile))
	if strings.TrimSpace(string(pub)) != k.VerifierKey {
		t.Errorf("ledger.pub %q, derived %q", pub, k.VerifierKey)
	}
	os.Chmod(filepath.Join(dir, ledger.SigningKeyFile), 0o644)
	if _, err := ledger.LoadKeys(filepath.Join(dir, ledger.SigningKeyFile)); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("a world-readable key: %v", err)
	}
	if _, err := ledger.LoadOrCreateKeys(t.TempDir(), "has space"); err == nil {
		t.Error("an origin with a space was accepted")
	}
	c := ledger.Checkpoint{Origin: "caseledger.test/ledger", Size: 42, Root: tlog.RecordHash([]byte("x"))}
	signed, err := k.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ledger.OpenCheckpoint(signed, k.Verifier)
	if err != nil || got != c {
		t.Fatalf("open: %+v %v", got, err)
	}
	for name, text := range map[string]string{"two lines": "o\n42\n", "bad size": "o\nx\nAAAA\n", "bad root": "o\n1\nnot base64\n", "no newline": "o\n1\nAAAA"} {
		if _, err := ledger.ParseCheckpoint(text); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	tampered := strings.Replace(string(signed), "\n42\n", "\n43\n", 1)
	if _, err := ledger.OpenCheckpoint([]byte(tampered), k.Verifier); err == nil {
		t.Error("a checkpoint with its size changed verified")
	}
	_ = uuid.Nil
	_ = time.Now
}

// TestZeroedTailIsReadAgain: a crash that leaves zeros at the end of the
// files (allocated, never written) is cut on opening, and the leaves are
// read again from the record to the same root.
func TestZeroedTailIsReadAgain(t *testing.T) {
	ctx := context.Background()
	st := record(t, 4)
	dir := t.TempDir()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CatchUp(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	want, _ := l.Root()
	l.Sync()
	l.Close()
	for _, name := range []string{"leaves", "hashes"} {
		f, _ := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0o600)
		f.Write(make([]byte, 32*5))
		f.Close()
	}
	l, err = ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.CatchUp(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Root(); got != want {
		t.Fatalf("root after a zeroed tail: %s, want %s", got, want)
	}
}

// TestRestoredOlderRecord: the record restored from a backup older than
// the ledger's files (which hold leaves the record no longer has) starts
// from its own last checkpoint, and the log goes on consistently with it.
func TestRestoredOlderRecord(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	add := func(st eventstore.Store, seed uint64, n int) {
		src := recordSeed(t, seed, n)
		recs, _ := src.ReadAll(ctx, eventstore.Start, 100000)
		for _, r := range recs {
			if _, err := st.Append(ctx, r.Stream, eventstore.Any, []eventstore.EventData{{ID: r.ID, Type: r.Type, Data: r.Data, Metadata: r.Metadata}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(st, 5, 4)
	s := service(t, st, dir)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, _, err := s.SignNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	backup, _ := os.ReadFile(path)
	st, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Store = st
	add(st, 6, 3)
	if _, _, err := s.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
	s.Log.Close()
	st.Close()
	// The older record comes back; the ledger's files are newer.
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	os.WriteFile(path, backup, 0o600)
	old, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	s2 := service(t, old, dir)
	if err := s2.Start(ctx); err != nil {
		t.Fatalf("start on the restored record: %v", err)
	}
	if last, _ := s2.Last(); last != first {
		t.Fatalf("last checkpoint %+v, want the one the restored record holds %+v", last, first)
	}
	add(old, 7, 2)
	c, signed, err := s2.SignNow(ctx)
	if err != nil || !signed {
		t.Fatalf("signing after the restore: %v", err)
	}
	fresh := ledger.NewMemory()
	if _, err := fresh.CatchUp(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	if root, _ := fresh.TreeHash(c.Size); root != c.Root {
		t.Fatal("the checkpoint signed after the restore is not the record's tree")
	}
}
