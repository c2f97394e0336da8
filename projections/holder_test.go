package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
)

// TestOneHolder: a read model has one writer at a time. A second runner is
// refused with the holder's name, cannot reset or write, and takes over
// once the first gives its claim up or is declared gone; the first then
// writes nothing more.
func TestOneHolder(t *testing.T) {
	ctx := context.Background()
	st := record(t, 3, 20)
	for name, open := range databases(t) {
		t.Run(name, func(t *testing.T) { oneHolder(ctx, t, st, open(t)) })
	}
}

func oneHolder(ctx context.Context, t *testing.T, st eventstore.Store, db *sql.DB) {
	runner := func(holder string) *projections.Runner {
		r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
		if err != nil {
			t.Fatal(err)
		}
		r.Holder = holder
		return r
	}
	a, b := runner("serve/host/1"), runner("project/host/2")
	if err := a.Claim(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CatchUp(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var held *projections.HeldError
	if err := b.Claim(ctx, nil); !errors.As(err, &held) || held.Holder != "serve/host/1" {
		t.Fatalf("second claim: %v", err)
	}
	if err := b.Reset(ctx); !errors.Is(err, projections.ErrNotHolder) {
		t.Fatalf("reset without the claim: %v", err)
	}
	if _, applied, _ := a.Checkpoint(ctx); applied == 0 {
		t.Fatal("the refused reset emptied the read model")
	}
	// The holder is declared gone (its process no longer runs).
	if err := b.Claim(ctx, func(h string) bool { return h == "serve/host/1" }); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if err := a.Reset(ctx); !errors.Is(err, projections.ErrNotHolder) {
		t.Fatalf("the old holder still writes: %v", err)
	}
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Run waits on standby while another holds the claim, then works.
	c := runner("serve/host/3")
	if err := b.Claim(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Standby.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !c.Standby.Load() {
		t.Fatal("Run did not wait on standby")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for c.Applied.Load() == 0 && time.Now().Before(deadline.Add(5*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil || c.Applied.Load() == 0 {
		t.Fatalf("Run after the claim was released: %v, %d applied", err, c.Applied.Load())
	}
	if err := b.Claim(ctx, nil); err != nil {
		t.Fatalf("Run did not give its claim up at the end: %v", err)
	}
}
