package natsbus

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caseledger/caseledger/internal/writable"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// aboutAClient reports whether a server log line is about a connection
// (it carries the client's, route's or leaf's id, or words a client chose,
// such as the user name of a failed login): such a line is never taken for
// a storage error, whatever words a client put in it.
func aboutAClient(line string) bool {
	for _, w := range []string{" - cid:", " - rid:", " - lid:", " - gid:", " - mid:", "Authentication Error", "authentication error", "User \""} {
		if strings.Contains(line, w) {
			return true
		}
	}
	return false
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
	if level >= slog.LevelWarn && !aboutAClient(line) {
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
// fault restarts JetStream once it does. Every few seconds, when all looks
// well, it checks that every stream on disk is served and that JetStream
// stores a message (its own stream, ProbeStream). A stream that does not
// load after three restarts in a row (a block the fault left unreadable) is,
// when nothing acknowledged is in it alone (movable: INTAKE, whose
// commands are answered only once recorded and sent again until they are),
// moved aside, whole, to the store's quarantine directory and made anew,
// and intake resumes; another stays a named fault. It returns when ctx
// ends.
func (e *Embedded) Supervise(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		restarted time.Time
		short     int // checks in a row with a stream on disk not served
		checked   time.Time
		unstored  int            // write probes in a row that JetStream did not store
		failed    map[string]int // restarts in a row after which a stream was not served
		gap       = 5 * time.Second
	)
	self := &selfConn{e: e}
	defer self.close()
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
			if time.Since(checked) < e.probeEvery {
				continue
			}
			checked = time.Now()
			// Every stream on disk served (twice in a row: a stream
			// being created has its directory a moment before it
			// answers), and a message stored.
			if missing, err := self.missing(ctx); err == nil && len(missing) > 0 {
				if e.absent(missing) {
					// Not on disk at all (moved aside, and not made anew
					// then): made now.
					if err := self.ensure(ctx); err != nil {
						e.fault.Set("streams not made anew: " + err.Error())
					}
					continue
				}
				e.fault.Log.Warn("NATS streams on disk not served", "streams", strings.Join(missing, ","))
				if short++; short >= 2 {
					e.fault.Set("streams on disk not served: " + strings.Join(missing, ", "))
				}
				continue
			}
			short = 0
			if err := self.write(ctx); err != nil && ctx.Err() == nil {
				// An error answer twice in a row is a fault; a slow one
				// (no answer within 2 s) only after half a minute of them.
				limit := 2
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
					limit = 6
				}
				if unstored++; unstored >= limit {
					e.fault.Set("JetStream did not store a probe message: " + err.Error())
				}
			} else {
				unstored = 0
			}
		case e.StorageFault() != nil && ctx.Err() == nil && time.Since(restarted) > gap:
			// At most every few seconds: a disk with a little room
			// passes the probe and fails the next block again.
			restarted = time.Now()
			if err := e.restartJetStream(); err != nil {
				e.fault.Log.Warn("NATS JetStream could not be restarted yet", "error", err)
				continue
			}
			missing, err := self.missing(ctx)
			if err != nil {
				e.fault.Log.Warn("NATS JetStream restarted but does not answer yet", "error", err)
				continue
			}
			if len(missing) > 0 && e.absent(missing) {
				// A stream with no directory (moved aside, and not made
				// anew then) is made now.
				if err := self.ensure(ctx); err != nil {
					e.fault.Log.Warn("NATS streams could not be made anew yet", "error", err)
					continue
				}
				if missing, err = self.missing(ctx); err != nil {
					continue
				}
			}
			if len(missing) == 0 {
				// And it stores again: only then does the fault end.
				if err := self.write(ctx); err != nil {
					e.fault.Log.Warn("NATS JetStream restarted but does not store yet", "error", err)
					continue
				}
				clear(failed)
				gap = 5 * time.Second
				e.fault.Clear()
				continue
			}
			// A stream that does not load from a directory this process
			// can read and write, and that is never moved aside, will not
			// load at the next restart either: restarts (which stop every
			// stream a moment) space out, up to five minutes apart.
			if e.allAccessible(missing) && !slices.ContainsFunc(missing, movable) {
				gap = min(2*gap, 5*time.Minute)
			} else {
				gap = 5 * time.Second
			}
			// Restarted while part of the store was still unwritable (a
			// permission given back directory by directory), some
			// streams do not load: the fault stays, and the next round
			// restarts again. A stream that does not load twice in a
			// row is unreadable as it is: moved aside and made anew.
			if failed == nil {
				failed = map[string]int{}
			}
			var broken []string
			for _, name := range missing {
				// Three restarts in a row, its whole directory readable and
				// writable: not a permission being given back, a stream
				// that cannot load as it is.
				if failed[name]++; failed[name] >= 3 && movable(name) && e.accessible(name) && e.roomy() {
					broken = append(broken, name)
				}
			}
			e.fault.Set("streams not loaded after a restart: " + strings.Join(missing, ", "))
			e.fault.Log.Warn("NATS JetStream restarted without all its streams; trying again", "missing", strings.Join(missing, ","))
			if len(broken) == 0 {
				continue
			}
			if err := e.quarantine(ctx, self, broken); err != nil {
				e.fault.Log.Error("NATS streams that do not load could not be moved aside", "streams", strings.Join(broken, ","), "error", err.Error())
				continue
			}
			for _, name := range broken {
				delete(failed, name)
			}
			restarted = time.Time{} // check again at the next tick
		}
	}
}

// quarantine moves the named streams' directories aside, under the store
// directory's quarantine/ (still encrypted, for the operator to examine),
// with JetStream stopped, then starts it and makes the streams anew.
func (e *Embedded) quarantine(ctx context.Context, self *selfConn, names []string) error {
	if e.JetStreamEnabled() {
		if err := e.ShutdownJetStream(); err != nil {
			return err
		}
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	var errs []error
	for _, name := range names {
		dirs, _ := filepath.Glob(filepath.Join(e.storeDir, server.JetStreamStoreDir, "*", "streams", name))
		for _, dir := range dirs {
			dst := filepath.Join(e.storeDir, QuarantineDir, name+"-"+stamp)
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := os.Rename(dir, dst); err != nil {
				errs = append(errs, err)
				continue
			}
			e.fault.Log.Error("a NATS stream that no restart could load was moved aside and is made anew: its messages that were not yet handled are sent again by their senders (INTAKE), or are in the record (event streams)",
				"stream", name, "moved_to", dst)
		}
	}
	if err := e.EnableJetStream(&server.JetStreamConfig{StoreDir: e.storeDir, Strict: true}); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := self.ensure(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// accessible reports whether every directory and file of the stream can
// be opened for reading and writing by this process.
func (e *Embedded) accessible(name string) bool {
	dirs, _ := filepath.Glob(filepath.Join(e.storeDir, server.JetStreamStoreDir, "*", "streams", name))
	if len(dirs) == 0 {
		return false
	}
	ok := true
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				ok = false
				return filepath.SkipAll
			}
			if d.IsDir() {
				// R_OK|W_OK|X_OK, without writing in JetStream's directories.
				if syscall.Access(path, 0o7) != nil {
					ok = false
					return filepath.SkipAll
				}
				return nil
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				ok = false
				return filepath.SkipAll
			}
			f.Close()
			return nil
		})
	}
	return ok
}

// roomy reports whether the store's filesystem has room enough (64 MiB)
// that a stream which does not load is not merely short of space (loading
// one may write).
func (e *Embedded) roomy() bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(e.storeDir, &st); err != nil {
		return false
	}
	return st.Bavail*uint64(st.Bsize) >= 64<<20
}

// allAccessible reports whether every named stream's directory is there
// and can be read and written throughout.
func (e *Embedded) allAccessible(names []string) bool {
	for _, n := range names {
		if !e.accessible(n) {
			return false
		}
	}
	return true
}

// absent reports whether one of the named streams has no directory.
func (e *Embedded) absent(names []string) bool {
	for _, n := range names {
		if dirs, _ := filepath.Glob(filepath.Join(e.storeDir, server.JetStreamStoreDir, "*", "streams", n)); len(dirs) == 0 {
			return true
		}
	}
	return false
}

// movable reports whether a stream that does not load may be moved aside
// and made anew: INTAKE (a command is answered only once recorded, and its
// sender sends it again until it is), REJECTED (refusals, answered
// already) and the probe's. An event stream or the checkpoints' stream is
// not: made anew it would lack what was relayed to it; it stays a fault,
// named, for the operator.
func movable(name string) bool {
	return name == IntakeStream || name == RejectedStream || name == ProbeStream
}

// QuarantineDir, under the embedded store's directory, keeps the streams
// Supervise moved aside because no restart could load them.
const QuarantineDir = "quarantine"

// restartJetStream reloads every stream from disk, which clears a stream's
// write error.
func (e *Embedded) restartJetStream() error {
	if e.onRestart != nil {
		e.onRestart()
	}
	if e.JetStreamEnabled() {
		if err := e.ShutdownJetStream(); err != nil {
			return err
		}
	}
	return e.EnableJetStream(&server.JetStreamConfig{StoreDir: e.storeDir, Strict: true})
}

// probeEvery is how often Supervise checks that JetStream stores.
const probeEvery = 5 * time.Second

// ProbeStream is the embedded server's own stream that Supervise writes to
// to learn that JetStream stores (one message kept, a few bytes).
const (
	ProbeStream  = "CASELEDGER_PROBE"
	probeSubject = "caseledger.probe.write"
)

// selfConn is Supervise's in-process connection, with the process's own
// identity: it asks JetStream which streams it serves, and writes to
// ProbeStream.
type selfConn struct {
	e     *Embedded
	nc    *nats.Conn
	js    jetstream.JetStream
	ready bool // the probe stream was made (or found) since the last failure
}

func (p *selfConn) connect() error {
	if p.nc != nil && !p.nc.IsClosed() {
		return nil
	}
	nc, err := nats.Connect(p.e.ClientURL(), append([]nats.Option{nats.Name("caseledger-storage-probe"), nats.MaxReconnects(-1)}, p.e.Self...)...)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	p.nc, p.js = nc, js
	return nil
}

// missing lists the streams whose directory is on disk and which JetStream
// does not serve; an error when JetStream does not answer.
func (p *selfConn) missing(ctx context.Context) ([]string, error) {
	if err := p.connect(); err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(p.e.storeDir, server.JetStreamStoreDir, "*", "streams", "*"))
	var names []string
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "meta.inf")); err == nil {
			names = append(names, filepath.Base(dir))
		} // else not a stream (yet, or any more)
	}
	if slices.ContainsFunc(Streams(), func(n string) bool { return slices.Contains(names, n) }) {
		// caseledger's own, once made: a stream moved aside and not made
		// anew has no directory, and must still be missed.
		for _, name := range Streams() {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	var out []string
	for _, name := range names {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := p.js.Stream(cctx, name)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			out = append(out, name)
		case err != nil:
			return nil, err
		}
	}
	return out, nil
}

// ensure makes caseledger's streams (those quarantine moved aside) anew.
func (p *selfConn) ensure(ctx context.Context) error {
	if err := p.connect(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p.ready = false
	return EnsureStreams(ctx, p.js, Defaults)
}

func (p *selfConn) write(ctx context.Context) error {
	if err := p.connect(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if !p.ready {
		if _, err := p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: ProbeStream, Subjects: []string{probeSubject},
			Storage: jetstream.FileStorage, MaxMsgs: 1, Discard: jetstream.DiscardOld}); err != nil {
			return err
		}
		p.ready = true
	}
	_, err := p.js.Publish(ctx, probeSubject, []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	p.ready = err == nil
	return err
}

func (p *selfConn) close() {
	if p.nc != nil {
		p.nc.Close()
	}
}
