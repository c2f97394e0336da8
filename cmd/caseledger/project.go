package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/caseledger/caseledger/projections"
	_ "github.com/jackc/pgx/v5/stdlib" // read models in PostgreSQL
	_ "modernc.org/sqlite"             // read models in SQLite
)

// readModels lists the projections by their frozen names.
var readModels = map[string]projections.Projection{
	projections.CaseFiles{}.Name(): projections.CaseFiles{},
}

// openReadModels opens the read-model database: PostgreSQL when a URL is
// given, else SQLite in the data directory.
func openReadModels(c storeConfig) (*sql.DB, error) {
	if c.ReadModelURL != "" {
		db, err := sql.Open("pgx", c.ReadModelURL)
		if err != nil {
			return nil, errors.New("read models: --readmodel-url is not a valid PostgreSQL URL")
		}
		return db, nil
	}
	// Transactions take the write lock when they begin (_txlock=immediate):
	// one that read first and wrote after another process's write would
	// fail at once with SQLITE_BUSY instead of waiting its turn.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.DataDir, "readmodels.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// runProject brings the read models up to date with the record, or with
// --rebuild NAME empties one and rebuilds it from position zero.
func runProject(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("project", getenv, stderr)
	var rebuild string
	f.StringVar(&rebuild, "rebuild", "", "rebuild this read model from position zero (case_files)")
	if err := f.parse(args, 0, func() error {
		if _, ok := readModels[rebuild]; rebuild != "" && !ok {
			return fmt.Errorf("--rebuild: no read model %q (have: case_files)", rebuild)
		}
		return nil
	}); err != nil {
		return err
	}
	store, err := openReader(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()
	db, err := openReadModels(f.store)
	if err != nil {
		return err
	}
	defer db.Close()
	holder := holderName("project")
	for name, p := range readModels {
		r, err := projections.NewRunner(ctx, db, store, p)
		if err != nil {
			return err
		}
		// One writer per read model: beside a serve that keeps it, a
		// rebuild is refused and a catch-up has nothing to do.
		r.Holder = holder
		var held *projections.HeldError
		if err := r.Claim(ctx, staleHolder); errors.As(err, &held) {
			if rebuild == name {
				return fmt.Errorf("%w: stop that process's project role first (or let it finish), then rebuild", err)
			}
			fmt.Fprintf(stdout, "%s: kept up to date by %s; nothing to do\n", name, held.Holder)
			continue
		} else if err != nil {
			return err
		}
		defer r.Release(context.WithoutCancel(ctx))
		if rebuild == name {
			if err := r.Reset(ctx); err != nil {
				return err
			}
		}
		start := time.Now()
		bar := newProgress(stderr, 0)
		n, err := r.CatchUp(ctx, func(applied int64) { bar.count(applied) })
		bar.done()
		if err != nil {
			return err
		}
		secs := max(time.Since(start).Seconds(), 1e-9)
		fmt.Fprintf(stdout, "%s: applied %d events in %s (%.0f events/s); %d in all\n", name, n, time.Since(start).Round(time.Millisecond), float64(n)/secs, r.Applied.Load())
	}
	return nil
}

// holderName names this process as a read model's holder: what it is, its
// host and process id (so that a holder on this host that no longer runs is
// known gone), and a random suffix.
func holderName(what string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s:%d#%s", what, host, os.Getpid(), uuid.NewString()[:8])
}

// staleHolder reports whether a holder is a process of this host that no
// longer runs (killed before it could give its claim up).
func staleHolder(holder string) bool {
	_, rest, ok := strings.Cut(holder, "@")
	if !ok {
		return false
	}
	host, rest, ok := strings.Cut(rest, ":")
	pidText, _, _ := strings.Cut(rest, "#")
	pid, err := strconv.Atoi(pidText)
	if me, _ := os.Hostname(); !ok || err != nil || host != me || pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
