package ledger_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

func writerStore(t *testing.T) (*sqlite.Store, ledger.Keys) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/writer")
	if err != nil {
		t.Fatal(err)
	}
	return st, k
}

func event(meta string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "case.note_added", Data: []byte(`{"note_id":"x"}`), Metadata: []byte(meta)}
}

// TestWriterSignatures: what a writer appends carries its signature, which
// checks; an unsigned event, one signed by another key, and one whose
// bytes were edited after signing are each refused by name.
func TestWriterSignatures(t *testing.T) {
	ctx := context.Background()
	st, k := writerStore(t)
	w := ledger.SigningStore{Store: st, Writer: k.Signer}
	other, _ := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/other")
	if _, err := w.Append(ctx, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", eventstore.NoStream, []eventstore.EventData{event(`{"actor":{"user_id":"u"}}`), event(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", eventstore.Any, []eventstore.EventData{event(`{"actor":{"user_id":"insider"}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := (ledger.SigningStore{Store: st, Writer: other.Signer}).Append(ctx, "access-2026-12-03", eventstore.Any, []eventstore.EventData{event(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	writers := []note.Verifier{k.Verifier}
	for i, want := range []error{nil, nil, ledger.ErrUnsigned, ledger.ErrUnknownWriter} {
		if err := ledger.CheckWriter(recs[i], writers); !errors.Is(err, want) || (err != nil && !strings.Contains(err.Error(), recs[i].Stream)) {
			t.Errorf("event %d: %v, want %v naming its stream", i, err, want)
		}
	}
	edited := recs[0]
	edited.Data = []byte(`{"note_id":"y"}`)
	if err := ledger.CheckWriter(edited, writers); !errors.Is(err, ledger.ErrBadWriterSig) {
		t.Errorf("data edited after signing: %v", err)
	}
	if !strings.HasSuffix(string(recs[0].Metadata), `"}`) || !strings.Contains(string(recs[0].Metadata), `,"writer_sig":"caseledger.test/writer+`) {
		t.Errorf("the signature is not the metadata's last field: %s", recs[0].Metadata)
	}
	if _, err := w.Append(ctx, "access-2026-12-03", eventstore.Any, []eventstore.EventData{event(`not json`)}); !errors.Is(err, eventstore.ErrInvalidEvent) {
		t.Errorf("metadata that is not an object: %v", err)
	}
}

// TestLedgerRefusesUnsignedEvents: once a record signs from its first
// event, the ledger logs nothing a registered writer did not sign, and
// stops at it; a record begun before writer signatures is logged
// unchecked.
func TestLedgerRefusesUnsignedEvents(t *testing.T) {
	ctx := context.Background()
	st, k := writerStore(t)
	signing := ledger.SigningStore{Store: st, Writer: k.Signer}
	lk, _ := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/ledger")
	if _, err := signing.Append(ctx, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", eventstore.NoStream, []eventstore.EventData{event(`{"a":1}`), event(`{"a":2}`)}); err != nil {
		t.Fatal(err)
	}
	svc := &ledger.Service{Log: ledger.NewMemory(), Keys: lk, Store: signing, Writers: []note.Verifier{k.Verifier}, Now: time.Now}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
	// The insider appends around the writer.
	if _, err := st.Append(ctx, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", eventstore.Any, []eventstore.EventData{event(`{"forged":true}`)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SignNow(ctx); !errors.Is(err, ledger.ErrUnsigned) || !strings.Contains(err.Error(), "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b version 2") {
		t.Fatalf("the ledger signed past an unsigned event: %v", err)
	}
	if size := svc.Log.Size(); size != 2 { // the two signed events; nothing of the page holding the forgery
		t.Errorf("the ledger logged %d leaves", size)
	}
	// Running, the ledger does not go on past it: Run ends with the error,
	// for its supervisor to report and restart.
	svc.Interval = 10 * time.Millisecond
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	select {
	case err := <-done:
		if !errors.Is(err, ledger.ErrUnsigned) {
			t.Fatalf("Run past an unsigned event: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the ledger keeps running past an unsigned event")
	}
	// A record begun unsigned is logged unchecked.
	legacy, _ := writerStore(t)
	if _, err := legacy.Append(ctx, "case-0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", eventstore.NoStream, []eventstore.EventData{event(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	old := &ledger.Service{Log: ledger.NewMemory(), Keys: lk, Store: legacy, Writers: []note.Verifier{k.Verifier}, Now: time.Now}
	if err := old.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.SignNow(ctx); err != nil {
		t.Fatalf("a record begun before writer signatures: %v", err)
	}
}
