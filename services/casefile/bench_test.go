package casefile_test

import (
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
)

// BenchmarkDecode decodes stored records into domain events (what loading a
// case and replaying with decoding cost per event beyond the read).
func BenchmarkDecode(b *testing.B) {
	cases, err := gen.New(5).Cases(100)
	if err != nil {
		b.Fatal(err)
	}
	var recs []eventstore.Record
	for _, c := range cases {
		for i, e := range c.Events() {
			d, err := casefile.Encode(e)
			if err != nil {
				b.Fatal(err)
			}
			recs = append(recs, eventstore.Record{ID: d.ID, Stream: domain.StreamName(c.ID), Version: int64(i), Type: d.Type, Data: d.Data, Metadata: d.Metadata})
		}
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, r := range recs {
			if _, err := casefile.Decode(r); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
	b.ReportMetric(0, "ns/op")
}
