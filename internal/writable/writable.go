// Package writable tells whether caseledger's storage takes writes: a
// probe that writes, syncs and removes a small file, and a Fault that a
// component sets when a write fails and clears when one lands again,
// logging each change once (ERROR when it starts, INFO when it ends)
// however many writes fail in between.
//
// Causes are the operating system's words (no space left on device,
// permission denied, read-only file system), never a path or a value.
package writable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Probe checks that dir takes a small durable write.
func Probe(dir string) error {
	p := filepath.Join(dir, ".caseledger-write-probe")
	err := func() error {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			return err
		}
		return f.Sync()
	}()
	os.Remove(p)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot write: %w", err)
	}
	return nil
}

// Fault is one component's storage fault. The zero value is healthy and
// logs nothing; set Log and What, the writes that fail, in the plural
// (e.g. "ingest's appends to the record").
type Fault struct {
	Log  *slog.Logger
	What string
	// Then is logged with the fault: what the component does meanwhile.
	Then string

	mu    sync.Mutex
	cause string
	since time.Time
	last  time.Time // the latest failure reported
	ok    time.Time // a write that landed after it, before the fault settled
}

// settle is how long writes must go without a failure before a fault is
// over: while some writes fail and others land (a full disk with a little
// room, a directory where new files cannot be made but old ones are
// written), the fault is one fault, not a flicker.
const settle = time.Second

// Set records a fault; only the first of a run is logged.
func (f *Fault) Set(cause string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = time.Now()
	if f.cause != "" {
		return
	}
	f.cause, f.since = cause, f.last
	if f.Log != nil {
		f.Log.Error(f.What+" fail: "+f.Then, "cause", cause)
	}
}

// Clear ends a fault, logging the recovery.
func (f *Fault) Clear() { f.ClearAfter(time.Time{}) }

// ClearAfter ends a fault when no write failed since began, the start of
// the write that just succeeded, nor within the last second: a concurrent
// write that failed keeps it.
func (f *Fault) ClearAfter(began time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cause == "" || !began.IsZero() && f.last.After(began) {
		return
	}
	if time.Since(f.last) < settle {
		f.ok = time.Now() // Err ends the fault once it has settled
		return
	}
	f.end()
}

// end logs the recovery and clears the fault; f.mu is held.
func (f *Fault) end() {
	if f.Log != nil {
		f.Log.Info(f.What+" succeed again", "after", time.Since(f.since).Round(time.Millisecond).String())
	}
	f.cause, f.ok = "", time.Time{}
}

// Err is the current fault, nil when healthy.
func (f *Fault) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cause != "" && f.ok.After(f.last) && time.Since(f.last) >= settle {
		f.end() // a write landed after the last failure, and none failed since
	}
	if f.cause == "" {
		return nil
	}
	return fmt.Errorf("%s fail since %s: %s", f.What, f.since.UTC().Format(time.RFC3339), f.cause)
}

// Watch probes dir every interval until ctx ends, setting and clearing f.
func Watch(ctx context.Context, dir string, interval time.Duration, f *Fault) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := Probe(dir); err != nil {
			f.Set(err.Error())
		} else {
			f.Clear()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// storageWords are how SQLite, PostgreSQL and the operating system say a
// write did not land for want of space or permission.
var storageWords = []string{"disk is full", "no space left", "readonly database", "read-only file system", "permission denied", "disk i/o error", "unable to open database file", "could not extend file", "could not write"}

// IsStorage reports whether err says the storage took no write (full,
// read-only, unwritable), a fault that passes when the operator frees
// space or restores permissions, rather than a fault of the data.
func IsStorage(err error) bool {
	if err == nil {
		return false
	}
	l := strings.ToLower(err.Error())
	for _, w := range storageWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}
