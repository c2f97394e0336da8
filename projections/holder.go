package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// A read model has one writer at a time: its holder, named in the
// projection_holders table of the read-model database itself, which every
// write checks in the transaction that moves the checkpoint (a fence). A
// holder renews its claim while it runs; a claim not renewed for HolderTTL
// may be taken over. So `caseledger project --rebuild` beside a running
// serve is refused with the holder's name instead of both writing, and a
// standby projector waits for the claim rather than failing.

// HolderTTL is how long a claim lasts without renewal.
const HolderTTL = 15 * time.Second

// renewEvery is how often a running holder renews its claim.
const renewEvery = 3 * time.Second

// ErrHeld is returned when another holder keeps the read model; the error
// names it and when it last renewed its claim.
var ErrHeld = errors.New("projections: the read model is kept by another process")

// ErrNotHolder is returned by a write after the runner lost its claim (it
// was taken over after HolderTTL without renewal): nothing was written.
var ErrNotHolder = errors.New("projections: this process no longer holds the read model; nothing was written")

// HeldError says who holds a read model.
type HeldError struct {
	Projection, Holder string
	Renewed            time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("projections: read model %s is kept by %s (claim renewed %s ago)", e.Projection, e.Holder, time.Since(e.Renewed).Round(time.Second))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

func holderSchema(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS projection_holders (projection TEXT PRIMARY KEY, holder TEXT NOT NULL, renewed_at TEXT NOT NULL)`)
	return err
}

// Claim makes the runner the read model's holder, or returns a *HeldError
// naming the live holder. stale, when given, may declare a holder gone
// before its claim expires (a process of this host that no longer runs).
func (r *Runner) Claim(ctx context.Context, stale func(holder string) bool) error {
	if r.Holder == "" {
		return errors.New("projections: a runner needs a Holder name to claim its read model")
	}
	now := time.Now()
	res, err := r.db.ExecContext(ctx, `INSERT INTO projection_holders (projection, holder, renewed_at) VALUES ($1, $2, $3)
		ON CONFLICT (projection) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at
		WHERE projection_holders.holder = excluded.holder OR projection_holders.renewed_at < $4`,
		r.p.Name(), r.Holder, ts(now), ts(now.Add(-HolderTTL)))
	if err != nil {
		return fmt.Errorf("projections: claim %s: %w", r.p.Name(), err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		r.renewed = now
		return nil
	}
	var holder, renewed string
	if err := r.db.QueryRowContext(ctx, `SELECT holder, renewed_at FROM projection_holders WHERE projection = $1`, r.p.Name()).Scan(&holder, &renewed); err != nil {
		return fmt.Errorf("projections: claim %s: %w", r.p.Name(), err)
	}
	if stale != nil && stale(holder) {
		if _, err := r.db.ExecContext(ctx, `UPDATE projection_holders SET holder = $1, renewed_at = $2 WHERE projection = $3 AND holder = $4`,
			r.Holder, ts(now), r.p.Name(), holder); err != nil {
			return fmt.Errorf("projections: claim %s: %w", r.p.Name(), err)
		}
		return r.Claim(ctx, nil)
	}
	return &HeldError{Projection: r.p.Name(), Holder: holder, Renewed: parseTS(renewed)}
}

// Release gives the claim up (at shutdown), so that another process need
// not wait for it to expire.
func (r *Runner) Release(ctx context.Context) error {
	_, err := r.db.ExecContext(ctx, `DELETE FROM projection_holders WHERE projection = $1 AND holder = $2`, r.p.Name(), r.Holder)
	return err
}

// fence renews the claim inside a write's transaction, or returns
// ErrNotHolder when another process has taken it.
func (r *Runner) fence(ctx context.Context, tx *sql.Tx) error {
	if r.Holder == "" {
		return nil // a runner that never claims (tests, one-off tools)
	}
	now := time.Now()
	res, err := tx.ExecContext(ctx, `UPDATE projection_holders SET renewed_at = $1 WHERE projection = $2 AND holder = $3`, ts(now), r.p.Name(), r.Holder)
	if err != nil {
		return fmt.Errorf("projections: %s holder: %w", r.p.Name(), err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w (%s)", ErrNotHolder, r.p.Name())
	}
	r.renewed = now
	return nil
}

// renew renews the claim of an idle holder every renewEvery.
func (r *Runner) renew(ctx context.Context) error {
	if r.Holder == "" || time.Since(r.renewed) < renewEvery {
		return nil
	}
	return r.fenced(ctx, nil)
}

// fenced runs fn in a transaction that first renews the claim (see
// fence), and commits it.
func (r *Runner) fenced(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := r.fence(ctx, tx); err != nil {
		return err
	}
	if fn != nil {
		if err := fn(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("projections: %s commit: %w", r.p.Name(), err)
	}
	return nil
}
