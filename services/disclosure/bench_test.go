package disclosure_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

// BenchmarkExport exports one case (about 40 events, a few withheld, with
// its report in HTML and PDF) from a record of ten cases; the reference,
// in the same run, loads and folds the same case from the store.
func BenchmarkExport(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	tree := ledger.NewMemory()
	if _, err := tree.CatchUp(ctx, f.store, nil); err != nil {
		b.Fatal(err)
	}
	src := f.src
	src.Tree = tree
	b.Run("export_one_case", func(b *testing.B) {
		dir := b.TempDir() // each run its own (-count)
		i := 0
		for b.Loop() {
			i++
			if _, err := disclosure.Export(ctx, src, disclosure.Options{CaseID: f.c.ID, OrderID: uuid.Nil, Reader: domain.Actor{UserID: "bench", Role: domain.RoleAuditor, Agency: "police-lavallee"}, Out: filepath.Join(dir, strconv.Itoa(i)), Now: now}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference_load_case", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := casefile.Load(ctx, f.store, f.c.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
