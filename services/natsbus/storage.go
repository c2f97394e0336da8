package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caseledger/caseledger/internal/writable"
	"github.com/nats-io/nats-server/v2/server"
)

// The embedded server's storage. When JetStream cannot write (a full disk,
// a directory made read-only) it stops storing, and nats-server does not
// recover by itself: a stream that hit a write error keeps failing after
// space returns, until JetStream is restarted. Embedded.Supervise watches
// for such a fault, names it once, and restarts JetStream in process as
// soon as the store directory takes writes again; the streams are reloaded
// from disk and clients keep their connections.

// storageErrors are the server's words for a write that did not land.
var storageErrors = []string{"no space left", "permission denied", "read-only file system", "critical write error", "failed to store", "out of space", "out of resources", "input/output error"}

// cause reduces a server log line to the fault's cause, without paths.
func storageCause(line string) (string, bool) {
	l := strings.ToLower(line)
	for _, w := range storageErrors { // the precise causes first
		if strings.Contains(l, w) {
			return w, true
		}
	}
	return "", false
}

// serverLog hands the embedded server's log to caseledger's: errors and
// warnings at their levels, notices at debug; storage errors become the
// fault (named once), and a line repeated within a minute is dropped.
type serverLog struct {
	log   *slog.Logger
	fault *writable.Fault
	mu    sync.Mutex
	seen  map[string]time.Time
}

func (l *serverLog) emit(level slog.Level, format string, args []any) {
	line := fmt.Sprintf(format, args...)
	if level >= slog.LevelWarn {
		if cause, ok := storageCause(line); ok {
			l.fault.Set(cause)
			return
		}
	}
	l.mu.Lock()
	last, ok := l.seen[format]
	now := time.Now()
	if ok && now.Sub(last) < time.Minute {
		l.mu.Unlock()
		return
	}
	if len(l.seen) > 1000 {
		clear(l.seen)
	}
	l.seen[format] = now
	l.mu.Unlock()
	l.log.Log(context.Background(), level, line)
}

func (l *serverLog) Noticef(f string, a ...any) { l.emit(slog.LevelDebug, f, a) }
func (l *serverLog) Warnf(f string, a ...any)   { l.emit(slog.LevelWarn, f, a) }
func (l *serverLog) Errorf(f string, a ...any)  { l.emit(slog.LevelError, f, a) }
func (l *serverLog) Fatalf(f string, a ...any)  { l.emit(slog.LevelError, f, a) }
func (l *serverLog) Debugf(string, ...any)      {}
func (l *serverLog) Tracef(string, ...any)      {}

// StorageFault reports the embedded JetStream's storage fault, nil when it
// stores.
func (e *Embedded) StorageFault() error {
	if err := e.fault.Err(); err != nil {
		return err
	}
	if !e.JetStreamEnabled() && e.Running() {
		return errors.New("NATS JetStream is disabled")
	}
	return nil
}

// Supervise watches the embedded server's storage until ctx ends: every
// interval it checks that the store directory takes a write, and after a
// fault restarts JetStream once it does. It returns when ctx ends.
func (e *Embedded) Supervise(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		restarted time.Time
		short     int // ticks in a row with a stream on disk not loaded
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		probeErr := writable.Probe(e.storeDir)
		switch {
		case probeErr != nil:
			e.fault.Set(probeErr.Error())
		case e.StorageFault() == nil && e.JetStreamEnabled():
			// Healthy by every sign, but a stream on disk not loaded (it
			// failed as JetStream came back) answers nobody: a fault.
			// Twice in a row: a stream being created has its directory a
			// moment before JetStream counts it.
			if loaded, onDisk := e.streams(); loaded < onDisk {
				if short++; short >= 2 {
					e.fault.Set(fmt.Sprintf("%d of %d streams loaded", loaded, onDisk))
				}
			} else {
				short = 0
			}
		case e.StorageFault() != nil && ctx.Err() == nil && time.Since(restarted) > 5*time.Second:
			// At most every few seconds: a disk with a little room
			// passes the probe and fails the next block again.
			restarted = time.Now()
			if err := e.restartJetStream(); err != nil {
				e.fault.Log.Warn("NATS JetStream could not be restarted yet", "error", err)
				continue
			}
			// Restarted while part of the store was still unwritable (a
			// permission given back directory by directory), some streams
			// do not load: the fault stays, and the next round restarts
			// again.
			if loaded, onDisk := e.streams(); loaded < onDisk {
				e.fault.Set(fmt.Sprintf("%d of %d streams loaded after a restart", loaded, onDisk))
				e.fault.Log.Warn("NATS JetStream restarted without all its streams; trying again", "loaded", loaded, "on_disk", onDisk)
				continue
			}
			e.fault.Clear()
		}
	}
}

// streams counts the streams JetStream has loaded and those its store
// directory holds.
func (e *Embedded) streams() (loaded, onDisk int) {
	if info, err := e.Jsz(&server.JSzOptions{Accounts: true}); err == nil {
		loaded = info.Streams
	}
	dirs, _ := filepath.Glob(filepath.Join(e.storeDir, server.JetStreamStoreDir, "*", "streams", "*"))
	return loaded, len(dirs)
}

// restartJetStream reloads every stream from disk, which clears a stream's
// write error.
func (e *Embedded) restartJetStream() error {
	if e.JetStreamEnabled() {
		if err := e.ShutdownJetStream(); err != nil {
			return err
		}
	}
	return e.EnableJetStream(&server.JetStreamConfig{StoreDir: e.storeDir, Strict: true})
}
