// Package supervise runs the roles of one caseledger process as one group:
// a role that fails is logged at ERROR at once, reported by Check (so that
// /readyz turns 503 naming it and the cause), and restarted with a growing
// delay; a role that keeps failing, or that cannot be restarted, ends the
// whole group with an error, so that the process exits non-zero and its
// service manager (compose, systemd) restarts it. Shutdown stops the roles
// stage by stage, each stage drained before the next is told to stop.
//
// It never swallows a failure: every one is logged and counted, and a
// panic in a role is a failure like any other.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Group supervises roles. Set its fields before Run; the zero value uses
// the defaults below.
type Group struct {
	Logger *slog.Logger
	// Backoff is the first delay before a failed role is restarted; it
	// doubles on each failure up to MaxBackoff (defaults 1s and 30s).
	Backoff, MaxBackoff time.Duration
	// Limit failures within Window end the group (defaults 5 in 5m).
	Limit  int
	Window time.Duration
	// Settle is how long a restarted role must run to count as recovered
	// (default 5s).
	Settle time.Duration

	mu    sync.Mutex
	roles []*role
}

type role struct {
	name    string
	stage   int
	restart bool
	run     func(context.Context) error

	// guarded by Group.mu
	failing  error
	failures []time.Time
	restarts int
	gen      int
}

// Add registers a role. Roles of a lower stage are stopped first at
// shutdown; restart says whether the role may be run again after it
// failed (a server whose listener closed may not).
func (g *Group) Add(name string, stage int, restart bool, run func(context.Context) error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.roles = append(g.roles, &role{name: name, stage: stage, restart: restart, run: run})
}

func (g *Group) defaults() {
	if g.Logger == nil {
		g.Logger = slog.New(slog.DiscardHandler)
	}
	if g.Backoff <= 0 {
		g.Backoff = time.Second
	}
	if g.MaxBackoff < g.Backoff {
		g.MaxBackoff = max(30*time.Second, g.Backoff)
	}
	if g.Limit <= 0 {
		g.Limit = 5
	}
	if g.Window <= 0 {
		g.Window = 5 * time.Minute
	}
	if g.Settle <= 0 {
		g.Settle = 5 * time.Second
	}
}

// Run runs every role until ctx ends or a role gives up, then stops the
// roles stage by stage and returns nil, or the error of the role that gave
// up.
func (g *Group) Run(ctx context.Context) error {
	g.defaults()
	g.mu.Lock()
	roles := slices.Clone(g.roles)
	g.mu.Unlock()
	stages := map[int]context.CancelFunc{}
	var order []int
	waits := map[int]*sync.WaitGroup{}
	fatal := make(chan error, len(roles))
	for _, r := range roles {
		if _, ok := stages[r.stage]; !ok {
			sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			wg := &sync.WaitGroup{}
			stages[r.stage], waits[r.stage] = cancel, wg
			order = append(order, r.stage)
			for _, x := range roles {
				if x.stage == r.stage {
					wg.Add(1)
					go func() {
						defer wg.Done()
						g.keep(sctx, x, fatal)
					}()
				}
			}
		}
	}
	slices.Sort(order)
	var err error
	select {
	case <-ctx.Done():
	case err = <-fatal:
	}
	for _, st := range order {
		stages[st]()
		waits[st].Wait()
	}
	if err == nil {
		select {
		case err = <-fatal: // a role that failed while stopping
		default:
		}
	}
	return err
}

// keep runs one role, restarting it after failures, until ctx ends or it
// gives up (sending its error on fatal).
func (g *Group) keep(ctx context.Context, r *role, fatal chan<- error) {
	delay := g.Backoff
	for {
		g.mu.Lock()
		r.gen++
		gen := r.gen
		recovering := r.failing != nil
		g.mu.Unlock()
		if recovering {
			time.AfterFunc(g.Settle, func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				if r.gen == gen && r.failing != nil {
					r.failing = nil
					g.Logger.Info("role recovered", "role", r.name, "restarts", r.restarts)
				}
			})
		}
		err := safely(ctx, r.run)
		if ctx.Err() != nil {
			if err != nil {
				// Its last work failed as it stopped (the ledger's last
				// checkpoint on a full disk): said, and the stop is not
				// called clean.
				g.Logger.Error("role failed while stopping", "role", r.name, "error", err.Error())
				fatal <- fmt.Errorf("role %s failed while stopping: %w", r.name, err)
			}
			return
		}
		if err == nil {
			err = errors.New("stopped by itself")
		}
		now := time.Now()
		g.mu.Lock()
		r.gen++ // this run is over: its recovery timer must not clear the failure
		r.failing = err
		r.failures = append(r.failures, now)
		r.failures = slices.DeleteFunc(r.failures, func(t time.Time) bool { return now.Sub(t) > g.Window })
		failures, restarts := len(r.failures), r.restarts
		g.mu.Unlock()
		g.Logger.Error("role failed", "role", r.name, "error", err.Error(), "restarts", restarts, "failures_in_window", failures)
		switch {
		case !r.restart:
			fatal <- fmt.Errorf("role %s failed and cannot be restarted: %w", r.name, err)
			return
		case failures >= g.Limit:
			fatal <- fmt.Errorf("role %s failed %d times within %s: %w", r.name, failures, g.Window, err)
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, g.MaxBackoff)
		g.mu.Lock()
		r.restarts++
		g.mu.Unlock()
		g.Logger.Warn("role restarting", "role", r.name, "restarts", r.restarts)
	}
}

// safely runs a role, turning a panic into an error.
func safely(ctx context.Context, run func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return run(ctx)
}

// Check returns nil when every role runs, or an error naming each failed
// role, its cause and its restarts: readiness reports it.
func (g *Group) Check(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var bad []string
	for _, r := range g.roles {
		if r.failing != nil {
			cause, _, _ := strings.Cut(r.failing.Error(), "\n")
			bad = append(bad, fmt.Sprintf("role %s failed (%d restarts): %s", r.name, r.restarts, cause))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Restarts returns how many times each role was restarted.
func (g *Group) Restarts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]int{}
	for _, r := range g.roles {
		out[r.name] = r.restarts
	}
	return out
}
