package witness_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/witness"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// logOf is a log of leaves with its checkpoints signed by keys.
type logOf struct {
	t      testing.TB
	n      int64
	hashes []tlog.Hash
	keys   ledger.Keys
}

func newLog(t testing.TB, keys ledger.Keys) *logOf { return &logOf{t: t, keys: keys} }

func (l *logOf) read(ids []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ids))
	for i, id := range ids {
		out[i] = l.hashes[id]
	}
	return out, nil
}

func (l *logOf) grow(leaves ...string) {
	for _, s := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(l.n, tlog.RecordHash([]byte(s)), tlog.HashReaderFunc(l.read))
		if err != nil {
			l.t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.n++
	}
}

func (l *logOf) checkpoint(size int64) []byte {
	root, err := tlog.TreeHash(size, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	signed, err := l.keys.Sign(ledger.Checkpoint{Origin: l.keys.Signer.Name(), Size: size, Root: root})
	if err != nil {
		l.t.Fatal(err)
	}
	return signed
}

func (l *logOf) proof(from, to int64) []tlog.Hash {
	if from == 0 {
		return nil
	}
	p, err := tlog.ProveTree(to, from, tlog.HashReaderFunc(l.read))
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

func keys(t testing.TB) ledger.Keys {
	k, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWitnessProtocol plays the log, honest and not, against a witness over
// HTTP: it cosigns a log that grows; refuses a rollback, a fork signed with
// the log's own key, a stale old size (answering its own), an unknown log
// and a forged signature; and keeps its view across a restart.
func TestWitnessProtocol(t *testing.T) {
	k := keys(t)
	cos, err := witness.LoadOrCreateCosigner(filepath.Join(t.TempDir(), "w1.key"), "witness.test/w1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := witness.Open(dir, cos, k.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	wv, err := witness.NewVerifier(cos.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	c := &witness.Client{URL: srv.URL, Verifier: wv}
	ctx := context.Background()

	l := newLog(t, k)
	l.grow("a", "b", "c")
	cp3 := l.checkpoint(3)
	lines, err := c.Submit(ctx, 0, nil, cp3)
	if err != nil || !strings.HasPrefix(string(lines), "— witness.test/w1 ") {
		t.Fatalf("first checkpoint: %v %q", err, lines)
	}
	l.grow("d", "e")
	// Whatever else a submitter puts in the note (here a bogus line in the
	// witness's own name) is not kept, nor served to others.
	poisoned := append(l.checkpoint(5), []byte("— witness.test/w1 "+strings.Repeat("A", 100)+"\n")...)
	if _, err := c.Submit(ctx, 3, l.proof(3, 5), poisoned); err != nil {
		t.Fatalf("a log that grew: %v", err)
	}
	if latest, err := c.Latest(ctx, k.Verifier.Name()); err != nil || strings.Count(string(latest), "— witness.test/w1 ") != 1 {
		t.Fatalf("the witness keeps what a submitter added: %v\n%s", err, latest)
	}
	// A stale old size is answered with the witness's own.
	var conflict *witness.ConflictError
	if _, err := c.Submit(ctx, 3, l.proof(3, 5), l.checkpoint(5)); !errors.As(err, &conflict) || conflict.Size != 5 {
		t.Fatalf("stale old size: %v", err)
	}
	// A rollback: the log signs its first three leaves again.
	if _, err := c.Submit(ctx, 5, nil, cp3); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("rollback to size 3: %v", err)
	}
	// A fork signed with the genuine key: other leaves after the third.
	fork := newLog(t, k)
	fork.grow("a", "b", "c", "X", "Y", "Z")
	if _, err := c.Submit(ctx, 5, fork.proof(5, 6), fork.checkpoint(6)); err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "not consistent") {
		t.Fatalf("a fork: %v", err)
	}
	forkSame := newLog(t, k)
	forkSame.grow("a", "b", "c", "X", "Y")
	if _, err := c.Submit(ctx, 5, nil, forkSame.checkpoint(5)); !errors.As(err, &conflict) {
		t.Fatalf("another root at the same size: %v", err)
	}
	// An unknown log, and a checkpoint signed by another key of the same name.
	other := keys(t)
	ol := newLog(t, ledger.Keys{Signer: mustSigner(t, "caseledger.other/ledger"), Verifier: other.Verifier})
	ol.grow("a")
	if _, err := c.Submit(ctx, 0, nil, ol.checkpoint(1)); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("an unknown log: %v", err)
	}
	forged := newLog(t, other)
	forged.grow("a", "b", "c", "d", "e", "f")
	if _, err := c.Submit(ctx, 5, forged.proof(5, 6), forged.checkpoint(6)); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a checkpoint signed by another key of the log's name: %v", err)
	}
	// Garbage.
	for _, garbage := range []string{"old -1\n\nnot a note", "old +5\n\n" + string(l.checkpoint(5)), "old 05\n\n" + string(l.checkpoint(5))} {
		resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", strings.NewReader(garbage))
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("garbage %q: %v %v", garbage[:8], err, resp.Status)
		}
	}
	// The witness's view survives a restart, and anyone can read it.
	w2, err := witness.Open(dir, cos, k.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	seen, ok := w2.Latest(k.Verifier.Name())
	if !ok || seen.Size != 5 {
		t.Fatalf("after a restart the witness saw %+v", seen)
	}
	latest, err := c.Latest(ctx, k.Verifier.Name())
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(latest, note.VerifierList(k.Verifier, wv))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("latest cosigned checkpoint: %v %+v", err, n)
	}
	cp, _ := ledger.ParseCheckpoint(n.Text)
	if cp.Size != 5 {
		t.Fatalf("latest size %d", cp.Size)
	}
	if none, err := c.Latest(ctx, "caseledger.other/ledger"); err != nil || none != nil {
		t.Fatalf("a log it never cosigned: %v %q", err, none)
	}
}

func mustSigner(t *testing.T, name string) note.Signer {
	skey, _, err := note.GenerateKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKeys: a witness key round-trips; a bad key is refused by name.
func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.key")
	a, err := witness.LoadOrCreateCosigner(path, "witness.test/w2")
	if err != nil {
		t.Fatal(err)
	}
	b, err := witness.LoadOrCreateCosigner(path, "")
	if err != nil || a.VerifierKey() != b.VerifierKey() {
		t.Fatalf("reloaded key: %v", err)
	}
	if _, err := witness.LoadOrCreateCosigner(path, "witness.test/other"); err == nil {
		t.Error("a key loaded under another name")
	}
	for _, bad := range []string{"", "name", "witness.test/w2+00000000+AAAA", strings.Replace(a.VerifierKey(), "+", "+1", 1)} {
		if _, err := witness.NewVerifier(bad); err == nil {
			t.Errorf("%q accepted as a witness key", bad)
		}
	}
}

// TestConfigCountsEachWitnessOnce: a witness listed twice is refused.
func TestConfigCountsEachWitnessOnce(t *testing.T) {
	cos, err := witness.LoadOrCreateCosigner(filepath.Join(t.TempDir(), "w.key"), "witness.test/w3")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "witnesses.json")
	os.WriteFile(path, []byte(`{"quorum": 2, "witnesses": [{"url": "http://127.0.0.1:1", "key": "`+cos.VerifierKey()+`"}, {"url": "http://127.0.0.1:1/", "key": "`+cos.VerifierKey()+`"}]}`), 0o600)
	if _, _, err := witness.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("a witness listed twice: %v", err)
	}
}

// TestQuorumWithBadWitnesses: a witness that is down, one that answers
// garbage, and one whose key changed give no cosignature; the quorum is
// reached with the honest ones or the checkpoint is reported unwitnessed,
// naming each failure.
func TestQuorumWithBadWitnesses(t *testing.T) {
	k := keys(t)
	l := newLog(t, k)
	l.grow("a", "b")
	honest := func(name string) *witness.Client {
		cos, err := witness.LoadOrCreateCosigner(filepath.Join(t.TempDir(), "w.key"), name)
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.Open(t.TempDir(), cos, k.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(w.Handler())
		t.Cleanup(srv.Close)
		v, _ := witness.NewVerifier(cos.VerifierKey())
		return &witness.Client{URL: srv.URL, Verifier: v}
	}
	good := honest("witness.test/good")
	down := honest("witness.test/down")
	down.URL = "http://127.0.0.1:1"
	garbage := honest("witness.test/garbage")
	gsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("— witness.test/garbage AAAA\n"))
	}))
	defer gsrv.Close()
	garbage.URL = gsrv.URL
	rekeyed := honest("witness.test/rekeyed")
	old, _ := witness.LoadOrCreateCosigner(filepath.Join(t.TempDir(), "old.key"), "witness.test/rekeyed")
	rekeyed.Verifier, _ = witness.NewVerifier(old.VerifierKey()) // the ledger still pins the old key
	prove := func(old int64) ([]tlog.Hash, error) { return l.proof(old, l.n), nil }
	ctx := context.Background()

	q := &witness.Quorum{Clients: []*witness.Client{down, garbage, rekeyed, good}, N: 2}
	_, err := q.Cosign(ctx, l.checkpoint(l.n), l.n, prove)
	if err == nil || !strings.Contains(err.Error(), "1 of 4 witnesses cosigned, 2 needed") {
		t.Fatalf("a quorum not reached: %v", err)
	}
	for _, want := range []string{"witness witness.test/down", "witness witness.test/garbage answered no valid cosignature", "witness witness.test/rekeyed answered no valid cosignature"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	l.grow("c")
	q.N = 1
	lines, err := q.Cosign(ctx, l.checkpoint(l.n), l.n, prove)
	if err != nil || !strings.HasPrefix(string(lines), "— witness.test/good ") || strings.Count(string(lines), "\n") != 1 {
		t.Fatalf("a quorum of one with one honest witness: %v %q", err, lines)
	}
}
