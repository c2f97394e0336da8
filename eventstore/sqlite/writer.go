package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

type writerStmts struct {
	head, byID, insert, savepoint, release, rollbackTo *sql.Stmt
}

func (w *writerStmts) prepare(ctx context.Context, db *sql.DB) error {
	var err error
	if w.head, err = db.PrepareContext(ctx, "SELECT version, hash FROM events WHERE stream = ? ORDER BY version DESC LIMIT 1"); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if w.byID, err = db.PrepareContext(ctx, "SELECT position, stream, version, hash FROM events WHERE event_id = ?"); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	if w.insert, err = db.PrepareContext(ctx, "INSERT INTO events (stream, version, event_id, type, data, metadata, recorded_at, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"); err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	for q, st := range map[string]**sql.Stmt{"SAVEPOINT a": &w.savepoint, "RELEASE a": &w.release, "ROLLBACK TO a": &w.rollbackTo} {
		if *st, err = db.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	return nil
}

func (w *writerStmts) in(ctx context.Context, tx *sql.Tx) writerStmts {
	return writerStmts{
		head: tx.StmtContext(ctx, w.head), byID: tx.StmtContext(ctx, w.byID), insert: tx.StmtContext(ctx, w.insert),
		savepoint: tx.StmtContext(ctx, w.savepoint), release: tx.StmtContext(ctx, w.release), rollbackTo: tx.StmtContext(ctx, w.rollbackTo),
	}
}

func (w *writerStmts) close() {
	for _, st := range []*sql.Stmt{w.head, w.byID, w.insert, w.savepoint, w.release, w.rollbackTo} {
		if st != nil {
			st.Close()
		}
	}
}

// writer is the only goroutine that writes. It takes whatever is queued (up
// to MaxBatch appends) and commits it in one transaction: one fsync for the
// whole batch.
func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*appendReq, 0, s.opts.MaxBatch)
	for {
		select {
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		case <-s.stop:
			// Drain what was queued before Close: it was accepted for
			// writing and is answered, committed or refused.
			for {
				select {
				case r := <-s.reqs:
					s.commit([]*appendReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

type head struct {
	version int64
	hash    eventstore.Hash
}

// commit writes a batch in one transaction with a savepoint per append and
// answers every request once the transaction is durable (or failed).
func (s *Store) commit(batch []*appendReq) {
	replies := make([]appendReply, len(batch))
	live := make([]bool, len(batch))
	anyLive := false
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			replies[i].err = err // cancelled before it was written: nothing written
			continue
		}
		live[i], anyLive = true, true
	}
	if anyLive {
		if err := s.commitTx(batch, live, replies); err != nil {
			for i := range batch {
				if live[i] && replies[i].err == nil {
					replies[i] = appendReply{err: err}
				}
			}
		} else {
			s.notifyCommit()
		}
	}
	for i, r := range batch {
		r.reply <- replies[i]
	}
}

func (s *Store) commitTx(batch []*appendReq, live []bool, replies []appendReply) error {
	ctx := context.Background() // a batch is not cancelled by one caller's context
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	st := s.stmts.in(ctx, tx)
	heads := map[string]head{} // stream heads as this transaction leaves them
	now := time.Now().UTC()
	for i, r := range batch {
		if !live[i] {
			continue
		}
		if _, err := st.savepoint.ExecContext(ctx); err != nil {
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		res, h, err := s.appendOne(ctx, st, heads, r, now)
		if err != nil {
			if _, rerr := st.rollbackTo.ExecContext(ctx); rerr != nil {
				// SQLite rolled the whole transaction back itself (a full
				// disk, an I/O error): nothing of this batch is written, and
				// every append in it fails with the cause.
				return err
			}
			replies[i].err = err
		} else {
			replies[i].res = res
			if !res.Duplicate {
				heads[r.stream] = h
			}
		}
		if _, err := st.release.ExecContext(ctx); err != nil {
			return fmt.Errorf("sqlite: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	s.heads.update(heads)
	return nil
}

// appendOne writes one append inside the batch's transaction and returns
// its result and the stream's new head.
func (s *Store) appendOne(ctx context.Context, st writerStmts, heads map[string]head, r *appendReq, now time.Time) (eventstore.AppendResult, head, error) {
	if res, dup, err := retried(ctx, st, r); err != nil || dup {
		return res, head{}, err
	}
	h, ok := heads[r.stream]
	if !ok {
		h, ok = s.heads.get(r.stream)
	}
	if !ok {
		var raw []byte
		err := st.head.QueryRowContext(ctx, r.stream).Scan(&h.version, &raw)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			h = head{version: -1}
		case err != nil:
			return eventstore.AppendResult{}, head{}, fmt.Errorf("sqlite: read stream head: %w", err)
		case len(raw) != 32:
			return eventstore.AppendResult{}, head{}, fmt.Errorf("%w: stream head hash", eventstore.ErrCorrupt)
		default:
			copy(h.hash[:], raw)
		}
	}
	if err := r.expected.Check(r.stream, h.version); err != nil {
		return eventstore.AppendResult{}, head{}, err
	}
	res := eventstore.AppendResult{Stream: r.stream, FirstVersion: h.version + 1}
	micros := now.UnixMicro()
	for i, e := range r.events {
		prev := h.hash
		h.version++
		h.hash = eventstore.ChainHash(prev, r.stream, h.version, e)
		meta := e.Metadata
		if meta == nil {
			meta = []byte{}
		}
		out, err := st.insert.ExecContext(ctx, r.stream, h.version, e.ID.String(), e.Type, e.Data, meta, micros, prev[:], h.hash[:])
		if isUnique(err) {
			// Only the first id was looked up: a later one already
			// stored makes the append a partial retry or a reuse.
			return eventstore.AppendResult{}, head{}, fmt.Errorf("%w: event %d", eventstore.ErrDuplicateEventID, i)
		}
		if err != nil {
			return eventstore.AppendResult{}, head{}, fmt.Errorf("sqlite: insert: %w", err)
		}
		pos, err := out.LastInsertId()
		if err != nil {
			return eventstore.AppendResult{}, head{}, fmt.Errorf("sqlite: insert: %w", err)
		}
		res.Position = eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)}
	}
	res.LastVersion, res.Hash = h.version, h.hash
	return res, h, nil
}

// isUnique reports a UNIQUE constraint violation (SQLITE_CONSTRAINT_UNIQUE).
func isUnique(err error) bool {
	var se *sqlitedrv.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// retried reports whether the append's events are already stored as one
// earlier append of the same stream, in order, and if so returns that
// append's result. It looks up the first id: when that one is new, a later
// stored id is caught by UNIQUE(event_id) on insert.
func retried(ctx context.Context, st writerStmts, r *appendReq) (eventstore.AppendResult, bool, error) {
	res := eventstore.AppendResult{Stream: r.stream, Duplicate: true}
	for i, e := range r.events {
		var (
			pos     int64
			stream  string
			version int64
			raw     []byte
		)
		err := st.byID.QueryRowContext(ctx, e.ID.String()).Scan(&pos, &stream, &version, &raw)
		switch {
		case errors.Is(err, sql.ErrNoRows) && i == 0:
			return eventstore.AppendResult{}, false, nil
		case errors.Is(err, sql.ErrNoRows):
			return eventstore.AppendResult{}, false, fmt.Errorf("%w: part of the append is already stored", eventstore.ErrDuplicateEventID)
		case err != nil:
			return res, false, fmt.Errorf("sqlite: look up event id: %w", err)
		case stream != r.stream || (i > 0 && version != res.LastVersion+1):
			return res, false, fmt.Errorf("%w: event %d", eventstore.ErrDuplicateEventID, i)
		}
		if i == 0 {
			res.FirstVersion = version
		}
		res.LastVersion = version
		res.Position = eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)}
		copy(res.Hash[:], raw)
	}
	return res, true, nil
}

// headCache remembers stream heads committed by this process's writer, which
// is the only writer of the file (Open holds its lock), so a cached head is
// never stale. It is bounded: past maxHeads it starts over.
type headCache struct {
	mu sync.Mutex
	m  map[string]head
}

const maxHeads = 200_000

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[stream]
	return h, ok
}

func (c *headCache) update(heads map[string]head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m)+len(heads) > maxHeads {
		c.m = make(map[string]head, len(heads))
	}
	for k, v := range heads {
		c.m[k] = v
	}
}
