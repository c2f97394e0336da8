package main

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
)

// BenchmarkVerifyBundle verifies the bundle of a 1,000-event case (a
// generated case and notes added to it, in a record of other cases); the
// reference, in the same run, reads every file of the bundle and hashes it
// with SHA-256, the least any verifier must do.
func BenchmarkVerifyBundle(b *testing.B) {
	ctx := context.Background()
	st := recordB(b, 41, 30)
	cases := appendCasesB(b, st, 42, 1)
	c := cases[0]
	officer := domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"}
	at := c.Events()[len(c.Events())-1].Meta.OccurredAt
	for i := len(c.Events()); i < 1000; i++ {
		at = at.Add(time.Minute)
		cmd := domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: c.ID, CommandID: domain.EventID(c.ID, 10000+i), Actor: officer, OccurredAt: at, SourceSystem: "records"},
			NoteAdded: domain.NoteAdded{NoteID: domain.EventID(c.ID, 20000+i), Text: "Routine check."}}
		if _, _, err := casefile.Execute(ctx, st, cmd, func() time.Time { return at }, 3); err != nil {
			b.Fatal(err)
		}
	}
	keyDir := b.TempDir()
	keys, err := ledger.LoadOrCreateKeys(keyDir, "caseledger.test/ledger")
	if err != nil {
		b.Fatal(err)
	}
	tree := ledger.NewMemory()
	s := &ledger.Service{Log: tree, Keys: keys, Store: st}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.SignNow(ctx); err != nil {
		b.Fatal(err)
	}
	bundle := filepath.Join(b.TempDir(), "bundle")
	res, err := disclosure.Export(ctx, disclosure.Source{Store: st, Tree: tree, Keys: keys}, disclosure.Options{CaseID: c.ID, OrderID: [16]byte{}, Reader: domain.Actor{UserID: "bench", Role: domain.RoleAuditor, Agency: "police-lavallee"}, Out: bundle, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	if res.Events+res.Withheld != 1000 {
		b.Fatalf("the case has %d events", res.Events+res.Withheld)
	}
	pub := filepath.Join(keyDir, ledger.PublicKeyFile)
	b.Run("caseverify_1000_events", func(b *testing.B) {
		for b.Loop() {
			if code := run([]string{bundle, "--pubkey", pub}, io.Discard, io.Discard); code != 0 {
				b.Fatalf("exit %d", code)
			}
		}
	})
	b.Run("reference_read_and_sha256_every_file", func(b *testing.B) {
		for b.Loop() {
			err := filepath.Walk(bundle, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				raw, err := os.ReadFile(p)
				sha256.Sum256(raw)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
