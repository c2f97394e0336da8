package personal_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caseledger/caseledger/services/personal"
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
