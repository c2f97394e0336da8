package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/caseledger/caseledger/eventstore"
)

type writerStmts struct {
	head, byID, insert *sql.Stmt
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
	return nil
}

func (w *writerStmts) close() {
	for _, st := range []*sql.Stmt{w.head, w.byID, w.insert} {
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
	st := writerStmts{head: tx.StmtContext(ctx, s.stmts.head), byID: tx.StmtContext(ctx, s.stmts.byID), insert: tx.StmtContext(ctx, s.stmts.insert)}
	heads := map[string]head{} // streams touched in this transaction
	now := time.Now().UTC()
	for i, r := range batch {
		if !live[i] {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT a"); err != nil {
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		res, h, err := appendOne(ctx, st, heads, r, now)
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO a"); rerr != nil {
				return fmt.Errorf("sqlite: rollback to savepoint: %w", rerr)
			}
			replies[i].err = err
		} else {
			replies[i].res = res
			if !res.Duplicate {
				heads[r.stream] = h
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE a"); err != nil {
			return fmt.Errorf("sqlite: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// appendOne writes one append inside the batch's transaction and returns
// its result and the stream's new head.
func appendOne(ctx context.Context, st writerStmts, heads map[string]head, r *appendReq, now time.Time) (eventstore.AppendResult, head, error) {
	if res, dup, err := retried(ctx, st, r); err != nil || dup {
		return res, head{}, err
	}
	h, ok := heads[r.stream]
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
	for _, e := range r.events {
		prev := h.hash
		h.version++
		h.hash = eventstore.ChainHash(prev, r.stream, h.version, e)
		meta := e.Metadata
		if meta == nil {
			meta = []byte{}
		}
		out, err := st.insert.ExecContext(ctx, r.stream, h.version, e.ID.String(), e.Type, e.Data, meta, micros, prev[:], h.hash[:])
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

// retried reports whether the append's events are already stored as one
// earlier append of the same stream, in order, and if so returns that
// append's result. An id stored anywhere else is ErrDuplicateEventID.
func retried(ctx context.Context, st writerStmts, r *appendReq) (eventstore.AppendResult, bool, error) {
	res := eventstore.AppendResult{Stream: r.stream, Duplicate: true}
	found := 0
	for i, e := range r.events {
		var (
			pos     int64
			stream  string
			version int64
			raw     []byte
		)
		err := st.byID.QueryRowContext(ctx, e.ID.String()).Scan(&pos, &stream, &version, &raw)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return res, false, fmt.Errorf("sqlite: look up event id: %w", err)
		}
		found++
		if stream != r.stream || (i > 0 && version != res.LastVersion+1) || found != i+1 {
			return res, false, fmt.Errorf("%w: event %d", eventstore.ErrDuplicateEventID, i)
		}
		if i == 0 {
			res.FirstVersion = version
		}
		res.LastVersion = version
		res.Position = eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)}
		copy(res.Hash[:], raw)
	}
	switch found {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(r.events):
		return res, true, nil
	}
	return eventstore.AppendResult{}, false, fmt.Errorf("%w: part of the append is already stored", eventstore.ErrDuplicateEventID)
}
