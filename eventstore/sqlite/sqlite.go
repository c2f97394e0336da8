// Package sqlite is the embedded event store: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode with synchronous=FULL, so an acknowledged
// append is on disk. A single writer goroutine commits everything queued in
// one transaction (group commit), with a savepoint per append so that one
// conflict does not fail the others; readers use a separate pool; WAL
// checkpoints run in the background, never inside a commit.
//
// The schema backs the invariants itself (UNIQUE(stream, version),
// UNIQUE(event_id)) and triggers refuse UPDATE and DELETE on events. The file
// opens in the stock sqlite3 tool; see README for an auditor's queries.
//
// It never imports domain: it stores bytes and type names.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ eventstore.Store = (*Store)(nil)

// schemaVersion is stored in PRAGMA user_version.
const schemaVersion = 1

// applicationID marks the file as caseledger's (PRAGMA application_id): "CLed".
const applicationID = 0x434c6564

const schema = `
CREATE TABLE IF NOT EXISTS events (
	position    INTEGER PRIMARY KEY,          -- global order (the row id)
	stream      TEXT    NOT NULL,
	version     INTEGER NOT NULL,             -- 0-based within the stream
	event_id    TEXT    NOT NULL UNIQUE,      -- idempotency key
	type        TEXT    NOT NULL,
	data        BLOB    NOT NULL,             -- exact bytes as appended (JSON)
	metadata    BLOB    NOT NULL,             -- exact bytes as appended (JSON)
	recorded_at INTEGER NOT NULL,             -- commit time, Unix microseconds
	prev_hash   BLOB    NOT NULL,             -- previous event's hash in the stream
	hash        BLOB    NOT NULL,             -- chain hash of this event
	UNIQUE (stream, version)
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'caseledger: events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'caseledger: events are immutable'); END;
`

// Options tune the store; the zero value is the default.
type Options struct {
	// MaxBatch bounds how many appends one transaction commits (default 1024).
	MaxBatch int
	// Readers is the size of the reader pool (default 4).
	Readers int
	// CheckpointEvery is the background WAL checkpoint interval (default 1s).
	CheckpointEvery time.Duration
	// MaxWAL bounds the write-ahead log, in bytes (default 64 MiB): once
	// it passes a quarter of that, the checkpointer copies it into the database
	// and truncates it (TRUNCATE, waiting for readers to move on), and a
	// reset log is cut back to this size (journal_size_limit).
	MaxWAL int64
	// MaxPages, when set, caps the database size in pages (PRAGMA
	// max_page_count): appends beyond it fail as on a full disk.
	MaxPages int
	// ReadOnly opens an existing store for reading only, without its lock,
	// beside the process that writes it (an auditor's verify or replay while
	// caseledger runs). Append returns ErrReadOnly.
	ReadOnly bool
	// RestoreSchema, for a writer, puts back the schema objects an insider
	// altered (see ErrSchemaAltered) instead of refusing to open; Restored
	// then lists what was found wrong, for the caller to record.
	RestoreSchema bool
}

// ErrReadOnly is returned by Append on a store opened read-only.
var ErrReadOnly = errors.New("sqlite: store opened read-only")

// Store is the SQLite event store.
type Store struct {
	path string
	lock *os.File
	wdb  *sql.DB // the writer's single connection
	rdb  *sql.DB // readers
	cpdb *sql.DB // the background checkpointer
	// walSize and truncations are the checkpointer's view of the log.
	walSize, truncations atomic.Int64
	reqs                 chan *appendReq
	opts                 Options
	readOnly             bool
	// Restored lists what RestoreSchema found wrong and put back.
	Restored []string
	stmts    writerStmts
	heads    headCache
	// Reads use statements prepared once (database/sql prepares them on
	// each reader connection as it is first used).
	readStream, readAll *sql.Stmt

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every commit
	closed  bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedVersion
	events   []eventstore.EventData
	reply    chan appendReply
}

type appendReply struct {
	res eventstore.AppendResult
	err error
}

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("sqlite: event store is in use by another process")

func dsn(path string, extra string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" + extra
}

// Open opens or creates the event store at path (the directory must exist).
// It takes an exclusive lock on path+".lock" so that one process writes.
//
// Errors: ErrLocked; eventstore.ErrCorrupt (the file is not a caseledger
// SQLite database, or is damaged); I/O errors wrapped with the path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = time.Second
	}
	if opts.MaxWAL <= 0 {
		opts.MaxWAL = 64 << 20
	}
	if opts.ReadOnly {
		return openReadOnly(ctx, path, opts)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file in %s: %w", filepath.Dir(path), err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	s := &Store{path: path, lock: lock, opts: opts, reqs: make(chan *appendReq, 4096), changed: make(chan struct{}), stop: make(chan struct{})}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		lock.Close()
		return nil, err
	}
	s.wg.Add(2)
	go s.writer()
	go s.checkpointer()
	return s, nil
}

func openReadOnly(ctx context.Context, path string, opts Options) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s := &Store{path: path, opts: opts, readOnly: true, changed: make(chan struct{}), stop: make(chan struct{})}
	var err error
	s.rdb, err = sql.Open("sqlite", dsn(path, "&_pragma=query_only(1)&_pragma=cache_size(-32768)&_pragma=mmap_size(1073741824)"))
	if err == nil {
		err = s.checkSchema(ctx)
	}
	if err == nil {
		err = s.prepareReads(ctx)
	}
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	// The writer never checkpoints inside a commit: wal_autocheckpoint=0.
	s.wdb, err = sql.Open("sqlite", dsn(s.path, fmt.Sprintf("&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(%d)&_txlock=immediate", s.opts.MaxWAL)))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if s.opts.RestoreSchema {
		if s.Restored, err = s.restoreSchema(ctx); err != nil {
			return err
		}
	} else if problems, err := schemaProblems(ctx, s.wdb); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	} else if len(problems) > 0 {
		return &SchemaError{Path: s.path, Problems: problems}
	}
	if s.opts.MaxPages > 0 {
		if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", s.opts.MaxPages)); err != nil {
			return fmt.Errorf("sqlite: set max_page_count: %w", err)
		}
	}
	if err := s.stmts.prepare(ctx, s.wdb); err != nil {
		return err
	}
	s.rdb, err = sql.Open("sqlite", dsn(s.path, "&_pragma=query_only(1)&_pragma=cache_size(-32768)&_pragma=mmap_size(1073741824)"))
	if err != nil {
		return fmt.Errorf("sqlite: open readers on %s: %w", s.path, err)
	}
	if err := s.prepareReads(ctx); err != nil {
		return err
	}
	// The checkpointer waits at most 2 s for readers and the writer: a
	// checkpoint that cannot complete now is tried again on the next tick.
	s.cpdb, err = sql.Open("sqlite", dsn(s.path, fmt.Sprintf("&_pragma=busy_timeout(2000)&_pragma=journal_size_limit(%d)", s.opts.MaxWAL)))
	if err != nil {
		return fmt.Errorf("sqlite: open checkpointer on %s: %w", s.path, err)
	}
	s.cpdb.SetMaxOpenConns(1)
	return nil
}

func (s *Store) prepareReads(ctx context.Context) error {
	s.rdb.SetMaxOpenConns(s.opts.Readers)
	s.rdb.SetMaxIdleConns(s.opts.Readers)
	var err error
	if s.readStream, err = s.rdb.PrepareContext(ctx, "SELECT "+columns+" FROM events WHERE stream = ? AND version >= ? ORDER BY version LIMIT ?"); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	if s.readAll, err = s.rdb.PrepareContext(ctx, "SELECT "+columns+" FROM events WHERE position > ? ORDER BY position LIMIT ?"); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	return nil
}

// checkSchema checks that a file opened read-only is a caseledger store.
func (s *Store) checkSchema(ctx context.Context) error {
	var app, ver int64
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	if app != applicationID || ver != schemaVersion {
		return fmt.Errorf("%w: %s is not a caseledger event store of schema version %d", eventstore.ErrCorrupt, s.path, schemaVersion)
	}
	return nil
}

// migrate creates the schema in a new file and checks an existing one.
func (s *Store) migrate(ctx context.Context) error {
	var app, ver int64
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
	}
	switch {
	case app == 0 && ver == 0:
		var tables int
		if err := s.wdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
			return fmt.Errorf("%w: %s: %v", eventstore.ErrCorrupt, s.path, err)
		}
		if tables != 0 {
			return fmt.Errorf("%w: %s holds tables but is not a caseledger event store", eventstore.ErrCorrupt, s.path)
		}
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: create schema in %s: %w", s.path, err)
		}
		defer tx.Rollback()
		for _, q := range []string{schema, fmt.Sprintf("PRAGMA application_id = %d", applicationID), fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: create schema in %s: %w", s.path, err)
			}
		}
		return tx.Commit()
	case app != applicationID:
		return fmt.Errorf("%w: %s is a SQLite file but not a caseledger event store", eventstore.ErrCorrupt, s.path)
	case ver != schemaVersion:
		return fmt.Errorf("%w: %s has schema version %d, this build reads %d", eventstore.ErrCorrupt, s.path, ver, schemaVersion)
	}
	return nil
}

// Close stops the writer after the appends already queued, stops the
// checkpointer, checkpoints the WAL and releases the lock.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	if s.readOnly {
		return s.closeDBs()
	}
	s.wg.Wait()
	// A checkpoint that fails leaves a consistent WAL the next open replays.
	_, _ = s.cpdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	err := s.closeDBs()
	s.lock.Close()
	return err
}

func (s *Store) closeDBs() error {
	var errs []error
	s.stmts.close()
	for _, st := range []*sql.Stmt{s.readStream, s.readAll} {
		if st != nil {
			st.Close()
		}
	}
	for _, db := range []*sql.DB{s.wdb, s.rdb, s.cpdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *Store) checkpointer() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// PASSIVE never waits for the writer or readers; a failed
			// checkpoint is retried on the next tick. PASSIVE alone lets
			// the log grow without bound under a steady load (a reader is
			// always on it, so it never restarts from its beginning): past
			// a quarter of the bound, TRUNCATE copies it all and empties it.
			_, _ = s.cpdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			if st, err := os.Stat(s.path + "-wal"); err == nil && st.Size() > s.opts.MaxWAL/4 {
				if _, err := s.cpdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err == nil {
					s.truncations.Add(1)
				}
			}
			if st, err := os.Stat(s.path + "-wal"); err == nil {
				s.walSize.Store(st.Size())
			}
		}
	}
}

// WALSize is the write-ahead log's size in bytes at the last checkpoint
// tick, and how many times the checkpointer has truncated it.
func (s *Store) WALSize() (bytes, truncations int64) {
	return s.walSize.Load(), s.truncations.Load()
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if s.readOnly {
		return eventstore.AppendResult{}, ErrReadOnly
	}
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := &appendReq{ctx: ctx, stream: stream, expected: expected, events: events, reply: make(chan appendReply, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	// Sending under the lock orders it before Close's close(stop): the
	// writer drains every request queued before it stops.
	select {
	case s.reqs <- r:
		s.mu.Unlock()
	case <-ctx.Done():
		s.mu.Unlock()
		return eventstore.AppendResult{}, ctx.Err()
	}
	// Once queued, the append is answered by the writer: it is either
	// committed or refused, so waiting here cannot lose an acknowledgement.
	rep := <-r.reply
	return rep.res, rep.err
}

// notifyCommit wakes subscriptions.
func (s *Store) notifyCommit() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

const columns = "position, stream, version, event_id, type, data, metadata, recorded_at, prev_hash, hash"

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from int64, max int) ([]eventstore.Record, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	rows, err := s.readStream.QueryContext(ctx, stream, from, max)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read stream: %w", err)
	}
	return scanRecords(rows, max)
}

// StreamsBetween names the streams between from and to (inclusive) that
// hold events (eventstore.StreamLister): one index seek a stream, however
// many events each holds.
func (s *Store) StreamsBetween(ctx context.Context, from, to string) ([]string, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	rows, err := s.rdb.QueryContext(ctx, `WITH RECURSIVE next(name) AS (
		SELECT (SELECT min(stream) FROM events WHERE stream >= ?1 AND stream <= ?2)
		UNION ALL
		SELECT (SELECT min(stream) FROM events WHERE stream > next.name AND stream <= ?2) FROM next WHERE next.name IS NOT NULL)
		SELECT name FROM next WHERE name IS NOT NULL`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list streams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqlite: list streams: %w", err)
		}
		out = append(out, name)
	}
	return out, rows.Err()
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, max int) ([]eventstore.Record, error) {
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	rows, err := s.readAll.QueryContext(ctx, int64(after.Commit), max)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read all: %w", err)
	}
	return scanRecords(rows, max)
}

// CountAfter counts the events after a position (eventstore.Counter), for
// lag metrics; it walks the primary key from there, so it costs the lag.
func (s *Store) CountAfter(ctx context.Context, after eventstore.Position) (int64, error) {
	if s.isClosed() {
		return 0, eventstore.ErrClosed
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE position > ?`, int64(after.Commit)).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count: %w", err)
	}
	return n, nil
}

func scanRecords(rows *sql.Rows, max int) ([]eventstore.Record, error) {
	defer rows.Close()
	out := make([]eventstore.Record, 0, min(max, 256))
	var (
		pos, micros       int64
		id                string
		prevHash, rowHash []byte
	)
	for rows.Next() {
		var r eventstore.Record
		if err := rows.Scan(&pos, &r.Stream, &r.Version, &id, &r.Type, &r.Data, &r.Metadata, &micros, &prevHash, &rowHash); err != nil {
			return nil, fmt.Errorf("%w: row at position %d: %v", eventstore.ErrCorrupt, pos, err)
		}
		u, err := uuid.Parse(id)
		if err != nil || len(prevHash) != 32 || len(rowHash) != 32 {
			return nil, fmt.Errorf("%w: row at position %d has a malformed id or hash", eventstore.ErrCorrupt, pos)
		}
		r.ID = u
		r.Position = eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)}
		r.RecordedAt = time.UnixMicro(micros).UTC()
		copy(r.PrevHash[:], prevHash)
		copy(r.Hash[:], rowHash)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read: %w", err)
	}
	return out, nil
}

// SubscribeAll implements eventstore.Store: it pages through the log, and
// when it has read everything committed, waits for the next commit. The
// wake-up channel is taken before each read, so a commit between the read
// and the wait is never missed.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position, fn func(eventstore.Record) error) error {
	const page = 512
	for {
		wake := s.changes()
		recs, err := s.ReadAll(ctx, after, page)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
			after = r.Position
		}
		if len(recs) == page {
			continue
		}
		var poll <-chan time.Time
		if s.readOnly {
			// Another process writes: no commit wakes us, so look again soon.
			poll = time.After(200 * time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			return eventstore.ErrClosed
		case <-wake:
		case <-poll:
		}
	}
}
