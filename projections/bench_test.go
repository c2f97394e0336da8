package projections_test

import (
	"context"
	"testing"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/projections"
)

// BenchmarkRebuild rebuilds the case-files read model from zero over 300
// generated cases (about 12,000 events); the reference, in the same run, is
// reading the same log from the store without projecting it.
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	st := recordB(b, 41, 300)
	b.Run("case_files", func(b *testing.B) {
		db := readModelsB(b)
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
	})
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
