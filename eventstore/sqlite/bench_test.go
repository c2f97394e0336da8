package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

// Benchmarks of the embedded store on generated cases. None asserts on
// time; docs/benchmarks.md records the figures and their ratios to the
// references measured in the same run:
//   - BenchmarkReferenceInsertFsync: one row inserted and committed per op in
//     a plain SQLite table with the same durability (WAL, synchronous=FULL):
//     the disk's price of one durable commit;
//   - BenchmarkReferenceScan: the same rows read with a bare SELECT.

// encodedEvents returns the events of n generated cases, encoded as the
// store receives them, grouped per command as ingest appends them.
func encodedCases(b *testing.B, seed uint64, n int) [][][]eventstore.EventData {
	b.Helper()
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		b.Fatal(err)
	}
	out := make([][][]eventstore.EventData, len(cases))
	for i, c := range cases {
		for _, step := range c.Steps {
			var batch []eventstore.EventData
			for _, e := range step.Events {
				d, err := casefile.Encode(e)
				if err != nil {
					b.Fatal(err)
				}
				batch = append(batch, d)
			}
			out[i] = append(out[i], batch)
		}
	}
	return out
}

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkReferenceInsertFsync(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ref.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"referral_id":"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b","destination":"cavac","agency":"cavac-lavallee"}`)
	for b.Loop() {
		if _, err := db.Exec("INSERT INTO t (data) VALUES (?)", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkAppendSequential: one writer, one command's events per append,
// each acknowledged only once durable.
func BenchmarkAppendSequential(b *testing.B) {
	cases := encodedCases(b, 21, 50)
	s := benchStore(b)
	ctx := context.Background()
	events := 0
	round := 0
	for b.Loop() {
		for _, c := range cases {
			stream := "case-" + uuid.NewString()
			last := int64(-1)
			for _, batch := range c {
				if _, err := s.Append(ctx, stream, eventstore.Exact(last), fresh(batch, round)); err != nil {
					b.Fatal(err)
				}
				last += int64(len(batch))
				events += len(batch)
			}
		}
		round++
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// fresh gives a batch new event ids for another round of a benchmark (the
// store would otherwise absorb it as a retry).
func fresh(batch []eventstore.EventData, round int) []eventstore.EventData {
	if round == 0 {
		return batch
	}
	out := slices.Clone(batch)
	for i := range out {
		out[i].ID = uuid.NewSHA1(out[i].ID, []byte(strconv.Itoa(round)))
	}
	return out
}

// BenchmarkAppendConcurrent: N appenders each play whole cases, one command
// per append; the writer commits what is queued together.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("appenders=%d", writers), func(b *testing.B) {
			cases := encodedCases(b, 22, 256)
			s := benchStore(b)
			ctx := context.Background()
			var events atomic.Int64
			round := 0
			for b.Loop() {
				var wg sync.WaitGroup
				next := atomic.Int64{}
				for range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1)) - 1
							if i >= len(cases) {
								return
							}
							stream := "case-" + uuid.NewString()
							last := int64(-1)
							for _, batch := range cases[i] {
								if _, err := s.Append(ctx, stream, eventstore.Exact(last), fresh(batch, round)); err != nil {
									b.Error(err)
									return
								}
								last += int64(len(batch))
								events.Add(int64(len(batch)))
							}
						}
					}()
				}
				wg.Wait()
				round++
			}
			b.ReportMetric(float64(events.Load())/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events.Load()), "ns/event")
		})
	}
}

// largeStore builds (once per process, in the system temp directory) a
// store of a million events: 50,000 generated cases of 20 events each (each
// case's first 20 events: a file 20 events into its life).
var (
	largeOnce  sync.Once
	largePath  string
	largeCases []uuid.UUID
	largeErr   error
)

const largeEventsPerCase, largeCaseCount = 20, 50_000

func largeStore(b *testing.B) (*sqlite.Store, []uuid.UUID) {
	b.Helper()
	if testing.Short() {
		b.Skip("the million-event store is not built in -short mode")
	}
	largeOnce.Do(func() { largeErr = buildLarge() })
	if largeErr != nil {
		b.Fatal(largeErr)
	}
	s, err := sqlite.Open(context.Background(), largePath, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, largeCases
}

func buildLarge() error {
	dir, err := os.MkdirTemp("", "caseledger-bench-")
	if err != nil {
		return err
	}
	largePath = filepath.Join(dir, "events.db")
	s, err := sqlite.Open(context.Background(), largePath, sqlite.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	type job struct {
		stream string
		events []eventstore.EventData
	}
	work := make(chan job, 256)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if _, err := s.Append(context.Background(), j.stream, eventstore.NoStream, j.events); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	g := gen.New(77)
	for len(largeCases) < largeCaseCount {
		c, err := g.Case()
		if err != nil {
			close(work)
			return err
		}
		evs := c.Events()
		if len(evs) < largeEventsPerCase {
			continue
		}
		data := make([]eventstore.EventData, largeEventsPerCase)
		for i, e := range evs[:largeEventsPerCase] {
			if data[i], err = casefile.Encode(e); err != nil {
				close(work)
				return err
			}
		}
		work <- job{domain.StreamName(c.ID), data}
		largeCases = append(largeCases, c.ID)
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// percentiles reports the p50 and p99 of per-operation durations.
func percentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	at := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// BenchmarkLoadCase loads one 20-event case among a million events: read
// its stream, decode and fold it (what ingest does before every decision),
// and, for comparison, only read its records.
func BenchmarkLoadCase(b *testing.B) {
	s, cases := largeStore(b)
	ctx := context.Background()
	b.Run("read_decode_fold", func(b *testing.B) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			id := cases[(i*7919)%len(cases)]
			i++
			t := time.Now()
			st, recs, err := casefile.Load(ctx, s, id)
			d = append(d, time.Since(t))
			if err != nil || len(recs) != largeEventsPerCase || st.Version != largeEventsPerCase {
				b.Fatalf("load %s: %d events, %v", id, len(recs), err)
			}
		}
		percentiles(b, d)
	})
	b.Run("read_records", func(b *testing.B) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			id := cases[(i*7919)%len(cases)]
			i++
			t := time.Now()
			recs, err := s.ReadStream(ctx, domain.StreamName(id), 0, 1000)
			d = append(d, time.Since(t))
			if err != nil || len(recs) != largeEventsPerCase {
				b.Fatalf("read %s: %d events, %v", id, len(recs), err)
			}
		}
		percentiles(b, d)
	})
}

// BenchmarkReplay reads the whole million-event global log: as records,
// decoded into domain events, and checked chain by chain (verify); the
// reference is a bare SELECT of the same columns.
func BenchmarkReplay(b *testing.B) {
	s, _ := largeStore(b)
	ctx := context.Background()
	walk := func(b *testing.B, each func(eventstore.Record)) {
		n := 0
		for b.Loop() {
			n = 0
			for after := eventstore.Start; ; {
				page, err := s.ReadAll(ctx, after, 4096)
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range page {
					each(r)
				}
				n += len(page)
				if len(page) < 4096 {
					break
				}
				after = page[len(page)-1].Position
			}
		}
		if n != largeEventsPerCase*largeCaseCount {
			b.Fatalf("replayed %d events", n)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("records", func(b *testing.B) { walk(b, func(eventstore.Record) {}) })
	b.Run("decoded", func(b *testing.B) {
		walk(b, func(r eventstore.Record) {
			if _, err := casefile.Decode(r); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("verify_chains", func(b *testing.B) {
		var v *eventstore.Verifier
		walk(b, func(r eventstore.Record) {
			if r.Position.Commit == 1 || v == nil {
				v = eventstore.NewVerifier()
			}
			if br := v.Add(r); br != nil {
				b.Fatal(br)
			}
		})
	})
	// Issue 6's figure: every chain verified and the Merkle log rebuilt
	// in one pass, as caseledger verify does.
	b.Run("verify_chains_and_rebuild_merkle_log", func(b *testing.B) {
		var n int64
		for b.Loop() {
			v, tree := eventstore.NewVerifier(), ledger.NewMemory()
			got, err := tree.CatchUp(ctx, s, func(page []eventstore.Record) error {
				for _, r := range page {
					if br := v.Add(r); br != nil {
						return br
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tree.Root(); err != nil {
				b.Fatal(err)
			}
			n += got
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("reference_sql_scan", func(b *testing.B) {
		db, err := sql.Open("sqlite", "file:"+largePath+"?_pragma=query_only(1)")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		n := 0
		for b.Loop() {
			n = 0
			rows, err := db.Query("SELECT position, stream, version, event_id, type, data, metadata, recorded_at, prev_hash, hash FROM events ORDER BY position")
			if err != nil {
				b.Fatal(err)
			}
			var (
				pos, ver, at       int64
				stream, id, typ    string
				data, meta, ph, hh []byte
			)
			for rows.Next() {
				if err := rows.Scan(&pos, &stream, &ver, &id, &typ, &data, &meta, &at, &ph, &hh); err != nil {
					b.Fatal(err)
				}
				n++
			}
			rows.Close()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkWALBound appends 200,000 events (whole generated cases, one
// command per append, 64 appenders) while four readers read the global
// log from the start in a loop, as the relay, the projections and the
// ledger do, and samples the write-ahead log's size every 20 ms. It reports
// the largest WAL seen beside the database's final size and the bound
// (Options.MaxWAL); the reference is the same load with the bound off
// (only PASSIVE checkpoints, as before the bound), measured in the same run.
// Nothing here is timed: the figures are sizes.
func BenchmarkWALBound(b *testing.B) {
	for _, bounded := range []bool{true, false} {
		name := "bounded"
		if !bounded {
			name = "reference-unbounded"
		}
		b.Run(name, func(b *testing.B) {
			cases := encodedCases(b, 31, 256)
			for b.Loop() {
				dir := b.TempDir()
				path := filepath.Join(dir, "events.db")
				opts := sqlite.Options{}
				if !bounded {
					opts.MaxWAL = 1 << 62 // never reached: PASSIVE only
				}
				s, err := sqlite.Open(context.Background(), path, opts)
				if err != nil {
					b.Fatal(err)
				}
				ctx, stop := context.WithCancel(context.Background())
				var maxWAL atomic.Int64
				var wg sync.WaitGroup
				wg.Add(1)
				go func() { // the sampler
					defer wg.Done()
					for ctx.Err() == nil {
						if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > maxWAL.Load() {
							maxWAL.Store(st.Size())
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
				for range 4 { // the readers
					wg.Add(1)
					go func() {
						defer wg.Done()
						after := eventstore.Start
						for ctx.Err() == nil {
							page, err := s.ReadAll(ctx, after, 1000)
							if err != nil || len(page) == 0 {
								after = eventstore.Start
								time.Sleep(5 * time.Millisecond)
								continue
							}
							after = page[len(page)-1].Position
						}
					}()
				}
				var events atomic.Int64
				next := atomic.Int64{}
				var writers sync.WaitGroup
				for range 64 {
					writers.Add(1)
					go func() {
						defer writers.Done()
						for events.Load() < 200_000 {
							i := int(next.Add(1)) - 1
							round := i / len(cases)
							stream := "case-" + uuid.NewString()
							last := int64(-1)
							for _, batch := range cases[i%len(cases)] {
								if _, err := s.Append(ctx, stream, eventstore.Exact(last), fresh(batch, round+1)); err != nil {
									b.Error(err)
									return
								}
								last += int64(len(batch))
								events.Add(int64(len(batch)))
							}
						}
					}()
				}
				writers.Wait()
				stop()
				wg.Wait()
				s.Close()
				db, _ := os.Stat(path)
				b.ReportMetric(float64(maxWAL.Load())/(1<<20), "max-WAL-MiB")
				b.ReportMetric(float64(db.Size())/(1<<20), "db-MiB")
				b.ReportMetric(float64(events.Load()), "events")
			}
		})
	}
}
