package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.DataDir, "readmodels.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
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
	for name, p := range readModels {
		r, err := projections.NewRunner(ctx, db, store, p)
		if err != nil {
			return err
		}
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
