package natsbus

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStreamsCounted: the check Supervise makes after a restart sees every
// stream served, and names a stream whose directory is on disk but which
// JetStream does not serve (the restart over a store still partly
// unwritable is played by cmd/caseledger TestDataDirUnwritable).
func TestStreamsCounted(t *testing.T) {
	ctx, e, self, dir := startWithStreams(t)
	if missing, err := self.missing(ctx); err != nil || len(missing) != 0 {
		t.Fatalf("streams not served after they were made: %v %v", missing, err)
	}
	breakStream(t, dir, IntakeStream)
	if err := e.restartJetStream(); err != nil {
		t.Fatal(err)
	}
	if missing, err := self.missing(ctx); err != nil || len(missing) != 1 || missing[0] != IntakeStream {
		t.Fatalf("a stream that did not load: missing %v, %v", missing, err)
	}
}

// breakStream makes a stream's directory unloadable, as a torn write can:
// its metadata no longer matches its checksum.
func breakStream(t *testing.T, storeDir, name string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", name))
	if len(dirs) != 1 {
		t.Fatalf("stream %s on disk: %v", name, dirs)
	}
	if err := os.WriteFile(filepath.Join(dirs[0], "meta.inf"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUnloadableStreamMovedAside: a stream that no restart loads is moved
// to the quarantine directory and made anew, and the fault ends.
func TestUnloadableStreamMovedAside(t *testing.T) {
	ctx, e, self, dir := startWithStreams(t)
	breakStream(t, dir, IntakeStream)
	if err := e.restartJetStream(); err != nil {
		t.Fatal(err)
	}
	e.probeEvery = 100 * time.Millisecond
	go e.Supervise(ctx, 50*time.Millisecond)
	for e.StorageFault() == nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.StorageFault(); err == nil || !strings.Contains(err.Error(), IntakeStream) {
		t.Fatalf("a stream on disk not served: fault %v", err)
	}
	for e.StorageFault() != nil && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("the fault did not end: %v", e.StorageFault())
	}
	moved, _ := filepath.Glob(filepath.Join(dir, QuarantineDir, IntakeStream+"-*"))
	if len(moved) != 1 {
		t.Fatalf("quarantined: %v", moved)
	}
	if missing, err := self.missing(ctx); err != nil || len(missing) != 0 {
		t.Fatalf("streams not served after the quarantine: %v %v", missing, err)
	}
}

// TestProbeFindsJetStreamNotStoring: a JetStream that takes no write while
// its directory does (here its probe stream sealed out of band, as an
// admin could) is a storage fault, named, within a few probes; once it
// stores again (the stream removed, made anew by the probe), the fault
// ends after a restart.
func TestProbeFindsJetStreamNotStoring(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "nats")
	e, err := StartEmbedded(EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	e.probeEvery = 100 * time.Millisecond
	go e.Supervise(ctx, 50*time.Millisecond)
	nc, err := Connect(e.ClientURL(), "admin", e.Self...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var s jetstream.Stream
	for s == nil && ctx.Err() == nil {
		s, _ = js.Stream(ctx, ProbeStream)
		time.Sleep(50 * time.Millisecond)
	}
	if e.StorageFault() != nil {
		t.Fatalf("a fault before anything happened: %v", e.StorageFault())
	}
	cfg := s.CachedInfo().Config
	cfg.Sealed = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for e.StorageFault() == nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.StorageFault(); err == nil || !strings.Contains(err.Error(), "did not store a probe message") {
		t.Fatalf("a JetStream that stores nothing: fault %v", err)
	}
	// Removed (while JetStream may be restarting: tried until it answers).
	for {
		err := js.DeleteStream(ctx, ProbeStream)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for e.StorageFault() != nil && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("the fault did not end once JetStream stored again: %v", e.StorageFault())
	}
}

// startWithStreams starts an embedded server whose streams are made, and
// Supervise's connection to it; all end with the test.
func startWithStreams(t *testing.T) (context.Context, *Embedded, *selfConn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	dir := filepath.Join(t.TempDir(), "nats")
	e, err := StartEmbedded(EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	self := &selfConn{e: e}
	t.Cleanup(self.close)
	if err := self.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, e, self, dir
}

// TestClientWordsAreNoStorageFault: a client that connects with a user
// name of storage words ("no space left on device") puts them in the
// server's log; that is no storage fault. The server's own line is.
func TestClientWordsAreNoStorageFault(t *testing.T) {
	var f writable.Fault
	l := &serverLog{log: slog.New(slog.DiscardHandler), fault: &f, seen: map[string]time.Time{}}
	l.Errorf("%s - cid:%d - %q - %s", "127.0.0.1:53012", 7, "no space left on device", "authentication error")
	l.Warnf("127.0.0.1:53012 - cid:8 - User %q: Authentication Error", "permission denied")
	if err := f.Err(); err != nil {
		t.Fatalf("a client's words made a storage fault: %v", err)
	}
	l.Errorf("JetStream resource limits exceeded for server: %s", "Critical write error: no space left on device")
	if f.Err() == nil {
		// Set settles for a second before Err reports it.
		time.Sleep(1100 * time.Millisecond)
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("the server's own storage error: %v", err)
	}
}

// TestUnloadableEventStreamStaysAFault: an event stream that does not load
// is never moved aside (it would lose what was relayed); it stays a named
// fault, and the restarts space out.
func TestUnloadableEventStreamStaysAFault(t *testing.T) {
	ctx, e, self, dir := startWithStreams(t)
	police := EventStream(domain.CompartmentPolice)
	breakStream(t, dir, police)
	if err := e.restartJetStream(); err != nil {
		t.Fatal(err)
	}
	e.probeEvery = 100 * time.Millisecond
	var restarts atomic.Int32
	e.onRestart = func() { restarts.Add(1) }
	go e.Supervise(ctx, 50*time.Millisecond)
	time.Sleep(16 * time.Second)
	if err := e.StorageFault(); err == nil || !strings.Contains(err.Error(), police) {
		t.Fatalf("an event stream that does not load: fault %v", err)
	}
	if moved, _ := filepath.Glob(filepath.Join(dir, QuarantineDir, "*")); len(moved) != 0 {
		t.Fatalf("an event stream was moved aside: %v", moved)
	}
	// At once, then 10 s later: two restarts in 16 s (every 5 s, four).
	if n := restarts.Load(); n < 1 || n > 2 {
		t.Fatalf("%d restarts in 16 s", n)
	}
	_ = self
}
