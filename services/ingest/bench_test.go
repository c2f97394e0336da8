package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Benchmarks of end-to-end ingest through a real embedded NATS server and
// the SQLite store: publish → INTAKE → decide → durable append → ack. The
// reference, measured in the same run, is raw JetStream publishing of the
// same messages to a plain file-backed stream with nobody consuming it.

// pool returns the commands of n fresh generated cases, as intake messages
// in the order an emitter sends them.
func pool(b *testing.B, seed uint64, n int) (msgs []*nats.Msg, cases []gen.Case, events int) {
	b.Helper()
	cs, err := gen.New(seed).Cases(n)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cs {
		for _, step := range c.Steps {
			name, body, err := domain.EncodeCommand(step.Command)
			if err != nil {
				b.Fatal(err)
			}
			m := &nats.Msg{Subject: natsbus.IntakeSubject(name), Data: body, Header: nats.Header{}}
			m.Header.Set(nats.MsgIdHdr, step.Command.Head().CommandID.String())
			msgs = append(msgs, m)
			events += len(step.Events)
		}
	}
	return msgs, cs, events
}

func publishAll(b *testing.B, js jetstream.JetStream, msgs []*nats.Msg, subject func(*nats.Msg) string) {
	b.Helper()
	var futures []jetstream.PubAckFuture
	for _, m := range msgs {
		out := &nats.Msg{Subject: subject(m), Data: m.Data, Header: m.Header}
		f, err := js.PublishMsgAsync(out)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		case <-time.After(time.Minute):
			b.Fatal("no publish ack within a minute")
		}
	}
}

// BenchmarkIngest reports events/s for each way in.
func BenchmarkIngest(b *testing.B) {
	const casesPerRound = 100
	b.Run("publish_async_to_durable_append", func(b *testing.B) {
		n := startNode(b)
		seed := uint64(1000)
		events := 0
		for b.Loop() {
			b.StopTimer()
			msgs, _, ev := pool(b, seed, casesPerRound)
			seed++
			want := n.ingest.Stats.Accepted.Load() + int64(len(msgs))
			b.StartTimer()
			publishAll(b, n.js, msgs, func(m *nats.Msg) string { return m.Subject })
			deadline := time.Now().Add(2 * time.Minute)
			for n.ingest.Stats.Accepted.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("ingest accepted %d of %d (rejected %d, duplicates %d, retried %d)", n.ingest.Stats.Accepted.Load(), want, n.ingest.Stats.Rejected.Load(), n.ingest.Stats.Duplicates.Load(), n.ingest.Stats.Retried.Load())
				}
				time.Sleep(time.Millisecond)
			}
			events += ev
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("reference_jetstream_publish", func(b *testing.B) {
		n := startNode(b)
		ctx := context.Background()
		if _, err := n.js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_REF", Subjects: []string{"bench.ref.>"}, Storage: jetstream.FileStorage, Duplicates: time.Hour}); err != nil {
			b.Fatal(err)
		}
		seed := uint64(1000)
		events := 0
		for b.Loop() {
			b.StopTimer()
			msgs, _, ev := pool(b, seed, casesPerRound)
			seed++
			b.StartTimer()
			publishAll(b, n.js, msgs, func(m *nats.Msg) string { return "bench.ref." + m.Subject[len(natsbus.IntakePrefix):] })
			events += ev
		}
		b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	})
	for _, conc := range []int{16, 128} {
		b.Run(fmt.Sprintf("send_and_wait_outcome/cases=%d", conc), func(b *testing.B) {
			n := startNode(b)
			ctx := context.Background()
			seed := uint64(2000)
			var events atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			for b.Loop() {
				b.StopTimer()
				_, cases, _ := pool(b, seed, casesPerRound)
				seed++
				b.StartTimer()
				work := make(chan gen.Case)
				var wg sync.WaitGroup
				for range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var mine []time.Duration
						for c := range work {
							for _, step := range c.Steps {
								t := time.Now()
								out, err := n.client.Send(ctx, step.Command)
								mine = append(mine, time.Since(t))
								if err != nil {
									b.Error(err)
									return
								}
								events.Add(int64(len(out.EventIDs)))
							}
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
				}
				for _, c := range cases {
					work <- c
				}
				close(work)
				wg.Wait()
			}
			b.ReportMetric(float64(events.Load())/b.Elapsed().Seconds(), "events/s")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
