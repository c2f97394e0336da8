package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/api"
	"github.com/google/uuid"
)

// BenchmarkCasePage measures the API behind the case page with 10,000
// generated cases projected into SQLite: the case and its timeline, each
// read recorded in the access log first (a durable append). The reference,
// in the same run, is the same two queries on the read model without HTTP,
// authentication or the access record.
func BenchmarkCasePage(b *testing.B) {
	if testing.Short() {
		b.Skip("builds 10,000 cases")
	}
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	g := gen.New(5)
	var ids []uuid.UUID
	var wg sync.WaitGroup
	work := make(chan gen.Case, 64)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				var data []eventstore.EventData
				for _, e := range c.Events() {
					typ, d, m, _ := domain.EncodeStored(e)
					data = append(data, eventstore.EventData{ID: e.ID, Type: typ, Data: d, Metadata: m})
				}
				if _, err := st.Append(ctx, domain.StreamName(c.ID), eventstore.NoStream, data); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for range 10_000 {
		c, err := g.Case()
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, c.ID)
		work <- c
	}
	close(work)
	wg.Wait()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "rm.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	r, err := projections.NewRunner(ctx, db, st, projections.CaseFiles{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.CatchUp(ctx, nil); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(db, st, api.NewTokens(tokens), nil))
	defer srv.Close()

	report := func(b *testing.B, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("api_case_and_timeline", func(b *testing.B) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			id := ids[(i*7919)%len(ids)].String()
			i++
			t := time.Now()
			for _, path := range []string{"/v1/cases/" + id + "?purpose=bench", "/v1/cases/" + id + "/timeline?purpose=bench"} {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				req.Header.Set("Authorization", "Bearer sup-token-0123456789abcdefghi")
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("%s: %v %v", path, resp.StatusCode, err)
				}
				resp.Body.Close()
			}
			d = append(d, time.Since(t))
		}
		report(b, d)
	})
	b.Run("reference_read_model_queries", func(b *testing.B) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			id := ids[(i*7919)%len(ids)].String()
			i++
			t := time.Now()
			var status string
			if err := db.QueryRow(`SELECT status FROM cases WHERE case_id = $1`, id).Scan(&status); err != nil {
				b.Fatal(err)
			}
			rows, err := db.Query(`SELECT version, summary FROM timeline WHERE case_id = $1 ORDER BY version`, id)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
			d = append(d, time.Since(t))
		}
		report(b, d)
	})
}
