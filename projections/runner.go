package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
)

// Projection is one read model: tables in SQL fed from the event log.
// Its name is frozen: it keys the checkpoint, and renaming it rebuilds.
type Projection interface {
	Name() string
	// Schema returns the statements that create its tables if they do not
	// exist.
	Schema() []string
	// Reset empties its tables for a rebuild.
	Reset(ctx context.Context, tx *sql.Tx) error
	// Apply writes what a batch of decoded case events changes, inside the
	// transaction that also moves the checkpoint past them.
	Apply(ctx context.Context, tx *sql.Tx, batch []Change) error
}

// Change is one case event with the case's state after it.
type Change struct {
	Record eventstore.Record
	Event  domain.Event
	State  domain.State // after the event; shared across a case's changes in a batch
}

// Runner feeds one projection from the store's global subscription. The
// checkpoint is written in the same transaction as the rows, so a crash
// never applies an event twice nor skips one.
type Runner struct {
	db     *sql.DB
	store  eventstore.Reader
	p      Projection
	batch  int
	remote bool
	// Applied counts events applied; Position is the last one's.
	Applied  atomic.Int64
	Position atomic.Value
	states   map[string]domain.State
	// Holder names this runner's process when it claims the read model
	// (see Claim); a runner without one never claims (tests, tools that
	// own the database). Stale may declare a holder gone early.
	Holder  string
	Stale   func(holder string) bool
	renewed time.Time
	// Standby is true while Run waits for another holder's claim to end.
	Standby atomic.Bool
	// AfterCommit, when set, is told of each batch once its transaction
	// committed, with when it began and ended (tracing uses it).
	AfterCommit func(ctx context.Context, projection string, changes []Change, began, done time.Time)
	// WaitOut, when set, is told of each failure of Run's catch-up and
	// decides whether Run waits it out (retrying every second or so)
	// rather than returning it: a full or unwritable disk passes without a
	// restart. It is told nil when a catch-up succeeds after one.
	WaitOut func(err error) bool
}

// Versioned is a projection whose tables change between releases: a read
// model built with another SchemaVersion is dropped and rebuilt from zero,
// since it can always be rebuilt from the record.
type Versioned interface {
	SchemaVersion() int
	Tables() []string
}

// NewRunner prepares the projection's tables and the checkpoint table.
func NewRunner(ctx context.Context, db *sql.DB, store eventstore.Reader, p Projection) (*Runner, error) {
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS checkpoints (projection TEXT PRIMARY KEY, position TEXT NOT NULL, applied INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS projection_schemas (projection TEXT PRIMARY KEY, version INTEGER NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("projections: %s schema: %w", p.Name(), err)
		}
	}
	if err := holderSchema(ctx, db); err != nil {
		return nil, fmt.Errorf("projections: %s schema: %w", p.Name(), err)
	}
	if err := upgrade(ctx, db, p); err != nil {
		return nil, fmt.Errorf("projections: %s schema: %w", p.Name(), err)
	}
	for _, q := range p.Schema() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("projections: %s schema: %w", p.Name(), err)
		}
	}
	// A database across a round trip (PostgreSQL) is worth fewer, larger
	// statements; SQLite in process is not.
	remote := !strings.Contains(fmt.Sprintf("%T", db.Driver()), "sqlite")
	return &Runner{db: db, store: store, p: p, batch: 1000, remote: remote, states: map[string]domain.State{}}, nil
}

type remoteKey struct{}

// remote reports whether the runner writing in ctx writes across a round
// trip.
func remote(ctx context.Context) bool {
	r, _ := ctx.Value(remoteKey{}).(bool)
	return r
}

// upgrade drops a versioned projection's tables and checkpoint when they
// were built with another schema version (a build from before versions
// counts as version 1), and records the current version.
func upgrade(ctx context.Context, db *sql.DB, p Projection) error {
	v, ok := p.(Versioned)
	if !ok {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var have int
	err = tx.QueryRowContext(ctx, `SELECT version FROM projection_schemas WHERE projection = $1`, p.Name()).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM checkpoints WHERE projection = $1`, p.Name()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			have = 1
		}
	} else if err != nil {
		return err
	}
	if have != 0 && have != v.SchemaVersion() {
		for _, t := range v.Tables() {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE projection = $1`, p.Name()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO projection_schemas (projection, version) VALUES ($1, $2)
		ON CONFLICT (projection) DO UPDATE SET version = excluded.version`, p.Name(), v.SchemaVersion()); err != nil {
		return err
	}
	return tx.Commit()
}

// Checkpoint returns the position the projection has applied up to.
func (r *Runner) Checkpoint(ctx context.Context) (eventstore.Position, int64, error) {
	var pos string
	var applied int64
	err := r.db.QueryRowContext(ctx, `SELECT position, applied FROM checkpoints WHERE projection = $1`, r.p.Name()).Scan(&pos, &applied)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Start, 0, nil
	}
	if err != nil {
		return eventstore.Position{}, 0, fmt.Errorf("projections: checkpoint of %s: %w", r.p.Name(), err)
	}
	p, err := eventstore.ParsePosition(pos)
	return p, applied, err
}

// Reset empties the projection and its checkpoint, for a rebuild from zero.
func (r *Runner) Reset(ctx context.Context) error {
	err := r.fenced(ctx, func(tx *sql.Tx) error {
		if err := r.p.Reset(ctx, tx); err != nil {
			return fmt.Errorf("projections: reset %s: %w", r.p.Name(), err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE projection = $1`, r.p.Name())
		return err
	})
	if err == nil {
		r.states = map[string]domain.State{}
	}
	return err
}

// CatchUp applies everything already in the log and returns how many
// events it applied; progress, when given, is called after each batch.
//
// Reading and folding the next batch (decoding is most of the cost) runs
// beside writing the current one, so a rebuild uses two cores.
func (r *Runner) CatchUp(ctx context.Context, progress func(applied int64)) (int64, error) {
	after, applied, err := r.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	r.Applied.Store(applied)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type folded struct {
		page    []eventstore.Record
		changes []Change
		err     error
	}
	next := make(chan folded, 1)
	go func() {
		defer close(next)
		for {
			page, err := r.store.ReadAll(ctx, after, r.batch)
			if err == nil && len(page) == 0 {
				return
			}
			var changes []Change
			if err == nil {
				changes, err = r.fold(ctx, page)
			}
			select {
			case next <- folded{page, changes, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			after = page[len(page)-1].Position
		}
	}()
	var n int64
	for f := range next {
		err := f.err
		if err == nil {
			err = r.write(ctx, f.page, f.changes)
		}
		if err != nil {
			cancel()
			for range next {
			}
			// The folded states may have run ahead of the rows.
			r.states = map[string]domain.State{}
			return n, err
		}
		n += int64(len(f.page))
		if progress != nil {
			progress(n)
		}
	}
	return n, ctx.Err()
}

// Run claims the read model (waiting, on standby, while another live
// process holds it), catches up, then follows the log until ctx ends
// (returning nil), renewing its claim, and gives the claim up at the end.
func (r *Runner) Run(ctx context.Context) error {
	if r.Holder != "" {
		for {
			err := r.Claim(ctx, r.Stale)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrHeld) {
				return err
			}
			r.Standby.Store(true)
			if !sleepCtx(ctx, time.Second) {
				return nil
			}
		}
		r.Standby.Store(false)
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = r.Release(rctx)
		}()
	}
	waiting := false
	for ctx.Err() == nil {
		_, err := r.CatchUp(ctx, nil)
		if err == nil {
			err = r.renew(ctx)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && r.WaitOut != nil && r.WaitOut(err):
			waiting = true
			sleepCtx(ctx, time.Second)
			continue
		case err != nil:
			return err
		case waiting:
			waiting = false
			r.WaitOut(nil)
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return nil
}

// sleepCtx waits d, or less when ctx ends; it reports whether ctx is still
// going.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// fold decodes a page of records and folds each case event into its
// case's state. A case's state is cloned the first time a page touches it,
// so the page being written meanwhile keeps the states it was given.
func (r *Runner) fold(ctx context.Context, page []eventstore.Record) ([]Change, error) {
	changes := make([]Change, 0, len(page))
	cloned := map[string]bool{}
	for _, rec := range page {
		e, err := decode(rec)
		if errors.Is(err, errNotCase) {
			continue // access and ledger streams are not case events
		}
		if err != nil {
			return nil, fmt.Errorf("projections: %s: %w", r.p.Name(), err)
		}
		st, err := r.stateBefore(ctx, rec)
		if err != nil {
			return nil, err
		}
		if !cloned[rec.Stream] {
			st = st.Clone()
			cloned[rec.Stream] = true
		}
		st = domain.Evolve(st, e)
		r.states[rec.Stream] = st
		changes = append(changes, Change{Record: rec, Event: e, State: st})
	}
	return changes, nil
}

// write applies a folded page and moves the checkpoint past it, in one
// transaction.
func (r *Runner) write(ctx context.Context, page []eventstore.Record, changes []Change) error {
	began := time.Now()
	last := page[len(page)-1].Position
	applied := r.Applied.Load() + int64(len(page))
	err := r.fenced(ctx, func(tx *sql.Tx) error {
		if len(changes) > 0 {
			if err := r.p.Apply(context.WithValue(ctx, remoteKey{}, r.remote), tx, changes); err != nil {
				return fmt.Errorf("projections: %s: %w", r.p.Name(), err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (projection, position, applied, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (projection) DO UPDATE SET position = excluded.position, applied = excluded.applied, updated_at = excluded.updated_at`,
			r.p.Name(), last.String(), applied, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("projections: %s checkpoint: %w", r.p.Name(), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.Applied.Store(applied)
	r.Position.Store(last)
	if r.AfterCommit != nil {
		r.AfterCommit(ctx, r.p.Name(), changes, began, time.Now())
	}
	return nil
}

// stateBefore returns the case's state just before rec: from memory when
// the previous event was folded here, else by reading the stream up to it.
func (r *Runner) stateBefore(ctx context.Context, rec eventstore.Record) (domain.State, error) {
	if st, ok := r.states[rec.Stream]; ok && st.Version == rec.Version {
		return st, nil
	}
	var st domain.State
	for from := int64(0); from < rec.Version; {
		page, err := r.store.ReadStream(ctx, rec.Stream, from, int(min(rec.Version-from, 1000)))
		if err != nil {
			return domain.State{}, err
		}
		if len(page) == 0 {
			return domain.State{}, fmt.Errorf("projections: %s: %w: %s ends before version %d", r.p.Name(), eventstore.ErrCorrupt, rec.Stream, rec.Version)
		}
		for _, p := range page {
			e, err := decode(p)
			if err != nil {
				return domain.State{}, err
			}
			st = domain.Evolve(st, e)
		}
		from = page[len(page)-1].Version + 1
	}
	if len(r.states) > 50_000 {
		clear(r.states)
	}
	return st, nil
}

var errNotCase = errors.New("projections: not a case stream")

func decode(r eventstore.Record) (domain.Event, error) {
	caseID, ok := domain.CaseIDOf(r.Stream)
	if !ok {
		return domain.Event{}, errNotCase
	}
	e, err := domain.DecodeStored(r.ID, caseID, r.Type, r.Data, r.Metadata)
	if err != nil {
		return domain.Event{}, fmt.Errorf("%s version %d: %w", r.Stream, r.Version, err)
	}
	return e, nil
}

// Lag is how far a projection stands behind the record.
type Lag struct {
	Events int64         // events recorded after the checkpoint (at least; see LagCap)
	Age    time.Duration // since the oldest event not yet applied was recorded; 0 when caught up
	// Checkpointed is when the checkpoint last moved; zero before the first.
	Checkpointed time.Time
}

// LagCap bounds the count of a store that cannot count (see
// eventstore.Counter): past it, Lag.Events says "at least this many".
const LagCap = 10_000

// Lag measures how far the projection stands behind the record, at now.
func (r *Runner) Lag(ctx context.Context, now time.Time) (Lag, error) {
	var pos, updated string
	err := r.db.QueryRowContext(ctx, `SELECT position, updated_at FROM checkpoints WHERE projection = $1`, r.p.Name()).Scan(&pos, &updated)
	after := eventstore.Start
	var lag Lag
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return Lag{}, fmt.Errorf("projections: lag of %s: %w", r.p.Name(), err)
	default:
		if after, err = eventstore.ParsePosition(pos); err != nil {
			return Lag{}, fmt.Errorf("projections: lag of %s: %w", r.p.Name(), err)
		}
		lag.Checkpointed, _ = time.Parse(time.RFC3339Nano, updated)
	}
	next, err := r.store.ReadAll(ctx, after, 1)
	if err != nil || len(next) == 0 {
		return lag, err
	}
	lag.Age = max(0, now.Sub(next[0].RecordedAt))
	if c, ok := eventstore.Find[eventstore.Counter](r.store); ok { // through the encrypting and signing wrappers
		lag.Events, err = c.CountAfter(ctx, after)
		return lag, err
	}
	for lag.Events < LagCap {
		page, err := r.store.ReadAll(ctx, after, int(min(1000, LagCap-lag.Events)))
		if err != nil {
			return lag, err
		}
		if len(page) == 0 {
			break
		}
		lag.Events += int64(len(page))
		after = page[len(page)-1].Position
	}
	return lag, nil
}

// Name is the projection's name.
func (r *Runner) Name() string { return r.p.Name() }
