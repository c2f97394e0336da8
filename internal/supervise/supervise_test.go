package supervise_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caseledger/caseledger/internal/supervise"
	"github.com/caseledger/caseledger/internal/testfixture"
)

// syncBuffer is a log sink safe for goroutines.
type syncBuffer = testfixture.SyncBuffer

func group(log *syncBuffer) *supervise.Group {
	return &supervise.Group{Logger: slog.New(slog.NewJSONHandler(log, nil)), Backoff: 20 * time.Millisecond, Limit: 3, Window: time.Minute, Settle: 50 * time.Millisecond}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestFailureIsSeenAndRecovered: a role that fails twice is logged at
// ERROR each time, reported by Check while it fails, restarted, and counted
// as recovered once it has run a while; the other roles run on.
func TestFailureIsSeenAndRecovered(t *testing.T) {
	var log syncBuffer
	g := group(&log)
	var runs atomic.Int32
	g.Add("project case_files", 1, true, func(ctx context.Context) error {
		if runs.Add(1) <= 2 {
			return errors.New("disk I/O error")
		}
		<-ctx.Done()
		return nil
	})
	var other atomic.Bool
	g.Add("relay", 1, true, func(ctx context.Context) error { other.Store(true); <-ctx.Done(); other.Store(false); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, "the failure in Check", func() bool {
		err := g.Check(ctx)
		return err != nil && strings.Contains(err.Error(), "role project case_files failed") && strings.Contains(err.Error(), "disk I/O error")
	})
	waitFor(t, "recovery", func() bool { return runs.Load() == 3 && g.Check(ctx) == nil })
	if n := strings.Count(log.String(), `"level":"ERROR","msg":"role failed","role":"project case_files"`); n != 2 {
		t.Errorf("%d ERROR lines for two failures:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), `"msg":"role recovered"`) || g.Restarts()["project case_files"] != 2 || !other.Load() {
		t.Errorf("restarts %v, other role running %v, log:\n%s", g.Restarts(), other.Load(), log.String())
	}
	cancel()
	if err := <-done; err != nil || other.Load() {
		t.Fatalf("shutdown: %v, other role still running %v", err, other.Load())
	}
}

// TestKeepsFailingEndsTheGroup: a role that fails Limit times, or one that
// may not be restarted, ends the group with its error; every other role is
// stopped, and a panic is a failure, not a crash.
func TestKeepsFailingEndsTheGroup(t *testing.T) {
	for name, c := range map[string]struct {
		restart bool
		run     func(context.Context) error
		want    string
	}{
		"keeps failing": {true, func(context.Context) error { return errors.New("UNIQUE constraint failed") }, "failed 3 times"},
		"no restart":    {false, func(context.Context) error { return errors.New("listener closed") }, "cannot be restarted"},
		"panics":        {true, func(context.Context) error { panic("nil map") }, "panic: nil map"},
		"returns early": {true, func(context.Context) error { return nil }, "stopped by itself"},
	} {
		t.Run(name, func(t *testing.T) {
			var log syncBuffer
			g := group(&log)
			g.Add("ledger", 2, c.restart, c.run)
			var stopped atomic.Bool
			g.Add("ingest", 0, true, func(ctx context.Context) error { <-ctx.Done(); stopped.Store(true); return nil })
			err := g.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), "role ledger") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("group ended with %v", err)
			}
			if !stopped.Load() {
				t.Error("the other role was not stopped")
			}
		})
	}
}

// TestStagesStopInOrder: at shutdown a stage is drained before the next
// is told to stop.
func TestStagesStopInOrder(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	g := group(&syncBuffer{})
	for _, r := range []struct {
		name  string
		stage int
	}{{"ledger", 2}, {"relay", 1}, {"ingest", 0}, {"api", 0}} {
		g.Add(r.name, r.stage, true, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // draining
			mu.Lock()
			order = append(order, r.name)
			mu.Unlock()
			return nil
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(order) != 4 || order[2] != "relay" || order[3] != "ledger" {
		t.Fatalf("stopped in order %v", order)
	}
}

// TestStaysFailingThroughTheBackoff: a role that fails at once is reported
// failing for as long as it is down, including the wait before its next
// start, even when that wait is longer than the time a run needs to count
// as recovered.
func TestStaysFailingThroughTheBackoff(t *testing.T) {
	var log syncBuffer
	g := group(&log)
	g.Backoff, g.MaxBackoff, g.Settle, g.Limit = 150*time.Millisecond, 150*time.Millisecond, 20*time.Millisecond, 100
	g.Add("project case_files", 1, true, func(context.Context) error { return errors.New("no such table: timeline") })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, "the first failure", func() bool { return g.Check(ctx) != nil })
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if g.Check(ctx) == nil {
			t.Fatalf("a role that keeps failing was reported recovered:\n%s", log.String())
		}
	}
	cancel()
	<-done
}

// TestFailureWhileStoppingIsNotACleanStop: a role whose last work fails
// as it stops (the ledger's last checkpoint on a full disk) is logged at
// ERROR and the group's Run returns its error, so the process does not
// say it stopped cleanly.
func TestFailureWhileStoppingIsNotACleanStop(t *testing.T) {
	var log syncBuffer
	g := group(&log)
	g.Add("ledger", 1, true, func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("no space left on device")
	})
	g.Add("ingest", 0, true, func(ctx context.Context) error { <-ctx.Done(); return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "ledger failed while stopping: no space left on device") {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(log.String(), `"level":"ERROR","msg":"role failed while stopping","role":"ledger"`) {
		t.Fatalf("not logged:\n%s", log.String())
	}
}
