package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
)

// demoConfig is the configuration of `caseledger demo`. Flags override the
// environment (CASELEDGER_DEMO_CASES, CASELEDGER_DEMO_SEED), which overrides
// the defaults.
type demoConfig struct {
	Cases   int
	Seed    int
	Show    int // 1-based case to print; 0 picks the richest
	Writers int // concurrent appenders
}

const maxDemoCases = 1_000_000

// Validate reports every problem at once.
func (c demoConfig) Validate() error {
	var errs []error
	if c.Cases < 1 || c.Cases > maxDemoCases {
		errs = append(errs, fmt.Errorf("--cases must be between 1 and %d", maxDemoCases))
	}
	if c.Seed < 0 {
		errs = append(errs, errors.New("--seed must not be negative"))
	}
	if c.Show < 0 || c.Show > c.Cases {
		errs = append(errs, errors.New("--show must be between 0 (the richest case) and --cases"))
	}
	if c.Writers < 1 || c.Writers > 1024 {
		errs = append(errs, errors.New("--writers must be between 1 and 1024"))
	}
	return errors.Join(errs...)
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("demo", getenv, stderr)
	cfg := demoConfig{Cases: 10, Seed: 1, Writers: 64}
	f.envInt(getenv, "CASELEDGER_DEMO_CASES", &cfg.Cases)
	f.envInt(getenv, "CASELEDGER_DEMO_SEED", &cfg.Seed)
	f.IntVar(&cfg.Cases, "cases", cfg.Cases, "number of cases to generate and append (env CASELEDGER_DEMO_CASES)")
	f.IntVar(&cfg.Seed, "seed", cfg.Seed, "seed of the generator: the same seed gives the same cases (env CASELEDGER_DEMO_SEED)")
	f.IntVar(&cfg.Show, "show", cfg.Show, "which case to print, from 1; 0 prints the richest")
	f.IntVar(&cfg.Writers, "writers", cfg.Writers, "concurrent appenders")
	if err := f.parse(args, 0, func() error { return cfg.Validate() }); err != nil {
		return err
	}
	store, err := openStore(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()

	g := gen.New(uint64(cfg.Seed))
	var (
		show             gen.Case
		showIndex, rich  int
		events, appended int
		byComp           = map[domain.Compartment]int{}
		byRisk           = map[domain.RiskBand]int{}
		closed, reopened int
		unmet            int
	)
	work := make(chan gen.Case, cfg.Writers)
	results := make(chan appendStats, cfg.Writers)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				st, err := appendCase(wctx, store, c)
				if err != nil {
					cancel(err)
				}
				results <- st
			}
		}()
	}
	var stats appendStats
	collected := make(chan struct{})
	go func() {
		for r := range results {
			stats.add(r)
		}
		close(collected)
	}()
	bar := newProgress(stderr, cfg.Cases)
	started := time.Now()
generate:
	for i := range cfg.Cases {
		c, err := g.Case()
		if err != nil {
			cancel(err)
			break
		}
		for _, e := range c.Events() {
			events++
			byComp[e.Meta.Compartment]++
		}
		byRisk[c.State.Risk]++
		if c.State.Status == domain.StatusClosed {
			closed++
		}
		if c.State.Reopened > 0 {
			reopened++
		}
		unmet += len(c.State.UnmetContacts())
		if n := distinctTypes(c); cfg.Show == i+1 || (cfg.Show == 0 && n > rich) {
			show, showIndex, rich = c, i+1, n
		}
		select {
		case work <- c:
		case <-wctx.Done():
			break generate
		}
		bar.step(i + 1)
	}
	close(work)
	wg.Wait()
	close(results)
	<-collected
	bar.done()
	if err := context.Cause(wctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	appended = stats.appended
	elapsed := time.Since(started)
	fmt.Fprintf(stdout, "caseledger demo: %d cases, %d events, seed %d (the same seed gives the same cases)\n", cfg.Cases, events, cfg.Seed)
	fmt.Fprintf(stdout, "  appended to %s: %d events in %d appends (%d already there), %.0f events/s\n",
		f.store.where(), appended, stats.appends, stats.duplicates, float64(appended)/elapsed.Seconds())
	fmt.Fprintf(stdout, "  events by compartment: police %d, social_work %d, shared %d, sealed %d\n",
		byComp[domain.CompartmentPolice], byComp[domain.CompartmentSocialWork], byComp[domain.CompartmentShared], byComp[domain.CompartmentSealed])
	fmt.Fprintf(stdout, "  risk band at the end: high %d, medium %d, low %d, not assessed %d\n", byRisk[domain.RiskHigh], byRisk[domain.RiskMedium], byRisk[domain.RiskLow], byRisk[domain.RiskUnknown])
	fmt.Fprintf(stdout, "  closed %d, reopened at least once %d, victim contacts missed after high risk or breach %d\n\n", closed, reopened, unmet)
	fmt.Fprintf(stdout, "Case %d of the run (replay it with: caseledger replay %s)\n", showIndex, show.ID)
	printTimeline(stdout, show.State, show.Events())
	return nil
}

type appendStats struct{ appends, appended, duplicates int }

func (a *appendStats) add(b appendStats) {
	a.appends += b.appends
	a.appended += b.appended
	a.duplicates += b.duplicates
}

// appendCase appends a generated case step by step, as the emitting
// services would have: one append per command, with the expected version.
func appendCase(ctx context.Context, st eventstore.Store, c gen.Case) (appendStats, error) {
	var (
		s     domain.State
		stats appendStats
	)
	for _, step := range c.Steps {
		res, err := casefile.Append(ctx, st, s, step.Events)
		if err != nil {
			return stats, fmt.Errorf("append case %s: %w", c.ID, err)
		}
		stats.appends++
		if res.Duplicate {
			stats.duplicates++
		} else {
			stats.appended += len(step.Events)
		}
		for _, e := range step.Events {
			s = domain.Evolve(s, e)
		}
	}
	return stats, nil
}

func distinctTypes(c gen.Case) int {
	var types []string
	for _, e := range c.Events() {
		if !slices.Contains(types, e.Type()) {
			types = append(types, e.Type())
		}
	}
	return len(types)
}
