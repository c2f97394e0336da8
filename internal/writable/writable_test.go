package writable

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/internal/testfixture"
)

// TestFaultIsLoggedOnce: however many writes fail, a fault is logged once
// when it starts and once when it ends; a write that began before a
// concurrent failure does not end it.
func TestFaultIsLoggedOnce(t *testing.T) {
	var buf testfixture.SyncBuffer
	f := &Fault{Log: slog.New(slog.NewJSONHandler(&buf, nil)), What: "writes to the test", Then: "waiting"}
	if f.Err() != nil {
		t.Fatal("a new fault is set")
	}
	began := time.Now()
	for range 100 {
		f.Set("no space left on device")
	}
	f.ClearAfter(began.Add(-time.Second)) // began before the fault: keeps it
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("fault = %v", err)
	}
	f.Clear() // within a second of the last failure: not yet over
	if f.Err() == nil {
		t.Fatal("a write right after a failure ended the fault: it would flicker")
	}
	time.Sleep(1100 * time.Millisecond)
	// The write that landed ends it once a second passed without a
	// failure, even if no other write comes.
	if f.Err() != nil {
		t.Fatal("the fault did not end a second after a write landed")
	}
	f.Clear()
	out := buf.String()
	if strings.Count(out, `"level":"ERROR","msg":"writes to the test fail: waiting"`) != 1 || strings.Count(out, `"level":"INFO","msg":"writes to the test succeed again"`) != 1 {
		t.Fatalf("want one ERROR and one INFO line:\n%s", out)
	}
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	if err := Probe(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the probe left %d files", len(entries))
	}
	err := Probe(filepath.Join(dir, "missing"))
	if err == nil || strings.Contains(err.Error(), dir) {
		t.Fatalf("a missing directory: %v (the cause, without the path)", err)
	}
}

func TestIsStorage(t *testing.T) {
	for msg, want := range map[string]bool{
		"sqlite: commit: database or disk is full (13)":         true,
		"attempt to write a readonly database (8)":              true,
		"pq: could not extend file \"base/1/2\": No space left": true,
		"open x: permission denied":                             true,
		"projections: case_files: unknown event type":           false,
		"eventstore: wrong expected version":                    false,
	} {
		if got := IsStorage(errors.New(msg)); got != want {
			t.Errorf("IsStorage(%q) = %v, want %v", msg, got, want)
		}
	}
}
