package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/caseledger/caseledger/eventstore"
)

// errChainBroken is returned by verify when any chain breaks.
var errChainBroken = fmt.Errorf("chain broken")

// runVerify walks the whole global log once, checking every stream's chain
// incrementally, and names each stream and version where a chain breaks.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("verify", getenv, stderr)
	if err := f.parse(args, 0); err != nil {
		return err
	}
	store, err := openReader(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	v, err := verifyAll(ctx, store)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "verified %d events in %d streams of %s in %s (%.0f events/s)\n",
		v.Events, v.Streams, f.store.where(), elapsed.Round(time.Millisecond), float64(v.Events)/max(elapsed.Seconds(), 1e-9))
	if len(v.Breaks) == 0 {
		fmt.Fprintln(stdout, "every chain holds")
		return nil
	}
	for _, b := range v.Breaks {
		fmt.Fprintf(stdout, "BROKEN %s at version %d: %s\n", b.Stream, b.Version, b.Reason)
	}
	return fmt.Errorf("%w in %d streams", errChainBroken, len(v.Breaks))
}

// verifyAll feeds the global log through a chain verifier.
func verifyAll(ctx context.Context, store eventstore.Store) (*eventstore.Verifier, error) {
	v := eventstore.NewVerifier()
	for after := eventstore.Start; ; {
		page, err := store.ReadAll(ctx, after, 4096)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		for _, r := range page {
			v.Add(r)
		}
		if len(page) < 4096 {
			return v, nil
		}
		after = page[len(page)-1].Position
	}
}
