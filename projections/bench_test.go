package projections_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
	"github.com/google/uuid"
)

// BenchmarkRebuild rebuilds the case-files read model from zero over 300
// generated cases (about 12,000 events); the reference, in the same run, is
// reading the same log from the store without projecting it.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	st := recordB(b, 41, 300)
	dbs := map[string]func() *sql.DB{"sqlite": func() *sql.DB { return readModelsB(b) }}
	if url := os.Getenv("CASELEDGER_TEST_POSTGRES"); url != "" {
		dbs["postgres"] = func() *sql.DB {
			admin, err := sql.Open("pgx", url)
			if err != nil {
				b.Fatal(err)
			}
			defer admin.Close()
			schema := "bench_" + strings.ReplaceAll(uuid.NewString(), "-", "")
			if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if db, err := sql.Open("pgx", url); err == nil {
					db.Exec("DROP SCHEMA " + schema + " CASCADE")
					db.Close()
				}
			})
			db, err := sql.Open("pgx", url+"&search_path="+schema)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}
	}
	for name, open := range dbs {
		b.Run("case_files_"+name, func(b *testing.B) { rebuild(ctx, b, open(), st) })
	}
	b.Run("reference_read_log", func(b *testing.B) {
		var n int64
		for b.Loop() {
			for after := eventstore.Start; ; {
				page, err := st.ReadAll(ctx, after, 1000)
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(page))
				if len(page) < 1000 {
					break
				}
				after = page[len(page)-1].Position
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
}

func rebuild(ctx context.Context, b *testing.B, db *sql.DB, st eventstore.Store) {
	r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for b.Loop() {
		if err := r.Reset(ctx); err != nil {
			b.Fatal(err)
		}
		got, err := r.CatchUp(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		n += got
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
