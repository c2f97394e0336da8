package personal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestPendingErasureFinishes: a key an erasure could not destroy (the
// erased list's directory missing) is destroyed by RetryPending once it
// can be, and not before.
func TestPendingErasureFinishes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	listDir := filepath.Join(dir, "keys")
	k, err := OpenKeys(ctx, filepath.Join(dir, "keys.db"), make([]byte, 32), filepath.Join(listDir, ErasedFile))
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Encrypt(ctx, "cx", "a note"); err != nil {
		t.Fatal(err)
	}
	err = k.Destroy(ctx, "cx", "erased on request on 2026-12-03")
	if err == nil {
		t.Fatal("Destroy succeeded without its erased list")
	}
	k.pend("cx", "erased on request on 2026-12-03", err)
	if n := k.RetryPending(ctx); n != 1 {
		t.Fatalf("%d pending while the list cannot be written, want 1", n)
	}
	if held, _ := k.Held(ctx, "cx"); !held {
		t.Fatal("the key went without its erased-list entry")
	}
	if err := os.Mkdir(listDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if n := k.RetryPending(ctx); n != 0 {
		t.Fatalf("%d still pending", n)
	}
	if held, _ := k.Held(ctx, "cx"); held {
		t.Fatal("the key survived its retried erasure")
	}
}
