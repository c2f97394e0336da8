package domain_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

// Benchmarks report per event. Each family has a reference measured in the
// same run, so that docs/benchmarks.md can give ratios rather than absolute
// times from a shared 2-core machine:
//   - codec: plain, non-strict json.Marshal / json.Unmarshal of the same
//     payloads into the same Go types (what any JSON service pays);
//   - decide+evolve: the strict decode of the same events (the domain logic
//     should cost less than reading its input).

func benchCases(b *testing.B) []gen.Case {
	b.Helper()
	cases, err := gen.New(99).Cases(200)
	if err != nil {
		b.Fatal(err)
	}
	return cases
}

func perEvent(b *testing.B, events int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDecideEvolve replays every command of 200 generated cases through
// Decide on the state before it, then folds the events with Evolve.
func BenchmarkDecideEvolve(b *testing.B) {
	cases := benchCases(b)
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			var s domain.State
			for _, step := range c.Steps {
				out, err := domain.Decide(s, step.Command, step.Now)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range out {
					s = domain.Evolve(s, e)
				}
				events += len(out)
			}
		}
	}
	perEvent(b, events)
}

// BenchmarkEvolve folds already-decided events only (what loading a case
// from the store costs once its events are decoded).
func BenchmarkEvolve(b *testing.B) {
	cases := benchCases(b)
	events := 0
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			var s domain.State
			for _, e := range c.Events() {
				s = domain.Evolve(s, e)
				events++
			}
		}
	}
	perEvent(b, events)
}

type encoded struct {
	typ     string
	version int
	data    []byte
	wire    []byte
	goType  reflect.Type
	payload domain.EventData
}

func benchEvents(b *testing.B) []encoded {
	var out []encoded
	for _, c := range benchCases(b) {
		for _, e := range c.Events() {
			typ, v, data, err := domain.EncodeData(e.Data)
			if err != nil {
				b.Fatal(err)
			}
			wire, err := domain.MarshalEvent(e)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, encoded{typ, v, data, wire, reflect.TypeOf(e.Data), e.Data})
		}
	}
	return out
}

// each runs fn over n items per loop and reports the time per item.
func each(b *testing.B, n int, fn func(i int) error) {
	b.ReportAllocs()
	done := 0
	for b.Loop() {
		for i := range n {
			if err := fn(i); err != nil {
				b.Fatal(err)
			}
		}
		done += n
	}
	perEvent(b, done)
}

func BenchmarkCodec(b *testing.B) {
	events := benchEvents(b)
	var decoded []domain.Event
	for _, c := range benchCases(b) {
		decoded = append(decoded, c.Events()...)
	}
	n := len(events)
	b.Run("encode_data", func(b *testing.B) {
		each(b, n, func(i int) error { _, _, _, err := domain.EncodeData(events[i].payload); return err })
	})
	b.Run("reference_json_marshal", func(b *testing.B) {
		each(b, n, func(i int) error { _, err := json.Marshal(events[i].payload); return err })
	})
	b.Run("decode_data", func(b *testing.B) {
		each(b, n, func(i int) error {
			_, err := domain.DecodeData(events[i].typ, events[i].version, events[i].data)
			return err
		})
	})
	b.Run("reference_json_unmarshal", func(b *testing.B) {
		each(b, n, func(i int) error { return json.Unmarshal(events[i].data, reflect.New(events[i].goType).Interface()) })
	})
	b.Run("marshal_envelope", func(b *testing.B) {
		each(b, len(decoded), func(i int) error { _, err := domain.MarshalEvent(decoded[i]); return err })
	})
	b.Run("unmarshal_envelope", func(b *testing.B) {
		each(b, n, func(i int) error { _, err := domain.UnmarshalEvent(events[i].wire); return err })
	})
}
