package personal_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/personal"
)

func openPair(b *testing.B) (plain eventstore.Store, enc personal.Store) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	p, err := sqlite.Open(ctx, filepath.Join(dir, "plain.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e, err := sqlite.Open(ctx, filepath.Join(dir, "enc.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := personal.OpenKeys(ctx, filepath.Join(dir, "keys.db"), make([]byte, 32), filepath.Join(dir, "erased"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(); keys.Close(); e.Close() })
	return p, personal.Store{Store: e, Keys: keys}
}

func encodeCase(b *testing.B, c gen.Case) []eventstore.EventData {
	b.Helper()
	var out []eventstore.EventData
	for _, e := range c.Events() {
		d, err := casefile.Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// BenchmarkEncryptionCost appends whole generated cases to a plain store
// and to the same store behind personal.Store in the same run, then reads
// each case back (the encrypted one decrypted for display), and reports the
// ratios plain/encrypted (the aim: at least 0.8 of the plain throughput).
func BenchmarkEncryptionCost(b *testing.B) {
	ctx := context.Background()
	plain, enc := openPair(b)
	cases, err := gen.New(11).Cases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	var tPlain, tEnc, rPlain, rEnc time.Duration
	b.ResetTimer()
	for i := range b.N {
		c := cases[i]
		data := encodeCase(b, c)
		stream := domain.StreamName(c.ID)
		t0 := time.Now()
		if _, err := plain.Append(ctx, stream, eventstore.NoStream, data); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := enc.Append(ctx, stream, eventstore.NoStream, data); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, _, err := casefile.Load(ctx, plain, c.ID); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		_, recs, err := casefile.Load(ctx, enc, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			if _, err := enc.Keys.DecryptJSON(ctx, r.Data); err != nil {
				b.Fatal(err)
			}
		}
		t4 := time.Now()
		tPlain, tEnc, rPlain, rEnc = tPlain+t1.Sub(t0), tEnc+t2.Sub(t1), rPlain+t3.Sub(t2), rEnc+t4.Sub(t3)
	}
	b.ReportMetric(float64(tPlain)/float64(tEnc), "append-plain/encrypted")
	b.ReportMetric(float64(rPlain)/float64(rEnc), "load-plain/decrypted")
}

// BenchmarkEncryptionCostPerCommand appends generated cases one event at a
// time, as ingest appends one command's events, to a plain store and to the
// same store behind personal.Store in the same run, and reports the ratio
// plain/encrypted: a new subject's key costs one synced write of the key
// store, which a case's later commands do not pay again.
func BenchmarkEncryptionCostPerCommand(b *testing.B) {
	ctx := context.Background()
	plain, enc := openPair(b)
	cases, err := gen.New(13).Cases(b.N)
	if err != nil {
		b.Fatal(err)
	}
	var tPlain, tEnc time.Duration
	events := 0
	b.ResetTimer()
	for i := range b.N {
		c := cases[i]
		data := encodeCase(b, c)
		stream := domain.StreamName(c.ID)
		for v, d := range data {
			exp := eventstore.NoStream
			if v > 0 {
				exp = eventstore.Exact(int64(v - 1))
			}
			t0 := time.Now()
			if _, err := plain.Append(ctx, stream, exp, []eventstore.EventData{d}); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := enc.Append(ctx, stream, exp, []eventstore.EventData{d}); err != nil {
				b.Fatal(err)
			}
			tPlain, tEnc = tPlain+t1.Sub(t0), tEnc+time.Since(t1)
			events++
		}
	}
	b.ReportMetric(float64(tPlain)/float64(tEnc), "append-plain/encrypted")
	b.ReportMetric(float64(events)/float64(b.N), "events/case")
}

// BenchmarkErase1000 erases 1,000 cases (each: its key destroyed, as
// personal.Store does after appending the erasure) and reports the time per
// thousand.
func BenchmarkErase1000(b *testing.B) {
	ctx := context.Background()
	_, enc := openPair(b)
	cases, err := gen.New(12).Cases(1000)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for _, c := range cases {
			// A key of its own for this round (a destroyed subject is
			// never given a key again).
			if _, err := enc.Keys.Encrypt(ctx, personal.CaseSubject(c.ID)+"."+strconv.Itoa(i), "x"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for _, c := range cases {
			if err := enc.Keys.Destroy(ctx, personal.CaseSubject(c.ID)+"."+strconv.Itoa(i), ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}
