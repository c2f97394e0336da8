package natsbus

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamsCounted: the count Supervise compares after a restart sees
// every stream loaded and every one on disk (the restart over a store
// still partly unwritable is played by cmd/caseledger TestDataDirUnwritable).
func TestStreamsCounted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "nats")
	e, err := StartEmbedded(EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	nc, err := Connect(e.ClientURL(), "count", e.Self...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := EnsureStreams(ctx, js, Defaults); err != nil {
		t.Fatal(err)
	}
	if loaded, onDisk := e.streams(); loaded != len(Streams()) || onDisk != len(Streams()) {
		t.Fatalf("streams loaded %d, on disk %d, want %d each", loaded, onDisk, len(Streams()))
	}
}
