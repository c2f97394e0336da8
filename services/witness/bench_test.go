package witness_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/caseledger/caseledger/services/witness"
	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkCheckpointTwoWitnesses measures a checkpoint end to end with two
// witnesses on loopback (HTTP, signature and consistency checks, each
// witness's state synced to disk before it answers), beside the reference
// measured in the same run: signing the checkpoint alone, which is what a
// checkpoint cost without witnesses.
func BenchmarkCheckpointTwoWitnesses(b *testing.B) {
	k := keys(b)
	l := newLog(b, k)
	for i := range 1000 {
		l.grow(fmt.Sprint(i))
	}
	var clients []*witness.Client
	for i := range 2 {
		cos, err := witness.LoadOrCreateCosigner(filepath.Join(b.TempDir(), "w.key"), fmt.Sprintf("witness.bench/w%d", i))
		if err != nil {
			b.Fatal(err)
		}
		w, err := witness.Open(b.TempDir(), cos, k.Verifier)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(w.Handler())
		defer srv.Close()
		v, _ := witness.NewVerifier(cos.VerifierKey())
		clients = append(clients, &witness.Client{URL: srv.URL, Verifier: v})
	}
	q := &witness.Quorum{Clients: clients, N: 2}
	ctx := context.Background()
	prove := func(old int64) ([]tlog.Hash, error) { return l.proof(old, l.n), nil }
	b.Run("cosigned_by_two_witnesses", func(b *testing.B) {
		for b.Loop() {
			l.grow("x")
			if _, err := q.Cosign(ctx, l.checkpoint(l.n), l.n, prove); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference_signed_only", func(b *testing.B) {
		for b.Loop() {
			l.grow("x")
			_ = l.checkpoint(l.n)
		}
	})
}
