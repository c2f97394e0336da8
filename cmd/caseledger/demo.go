package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

// demoConfig is the configuration of `caseledger demo`. Flags override the
// environment (CASELEDGER_DEMO_CASES, CASELEDGER_DEMO_SEED), which overrides
// the defaults below.
type demoConfig struct {
	Cases int
	Seed  uint64
	Show  int // 1-based case to print; 0 picks the richest
}

const maxDemoCases = 1_000_000

// Validate reports every problem at once.
func (c demoConfig) Validate() error {
	var errs []error
	if c.Cases < 1 || c.Cases > maxDemoCases {
		errs = append(errs, fmt.Errorf("--cases must be between 1 and %d", maxDemoCases))
	}
	if c.Show < 0 || c.Show > c.Cases {
		errs = append(errs, fmt.Errorf("--show must be between 0 (the richest case) and --cases"))
	}
	return errors.Join(errs...)
}

func parseDemo(args []string, getenv func(string) string, stderr io.Writer) (demoConfig, error) {
	cfg := demoConfig{Cases: 10, Seed: 1}
	var errs []error
	if v := getenv("CASELEDGER_DEMO_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("CASELEDGER_DEMO_CASES is not a whole number"))
		}
		cfg.Cases = n
	}
	if v := getenv("CASELEDGER_DEMO_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("CASELEDGER_DEMO_SEED is not a whole number"))
		}
		cfg.Seed = n
	}
	fs := flag.NewFlagSet("caseledger demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Cases, "cases", cfg.Cases, "number of cases to generate")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the generator: the same seed gives the same cases")
	fs.IntVar(&cfg.Show, "show", cfg.Show, "which case to print, from 1; 0 prints the richest")
	if err := fs.Parse(args); err != nil {
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return cfg, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, nil
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseDemo(args, getenv, stderr)
	if err != nil {
		return err
	}
	g := gen.New(cfg.Seed)
	var (
		show      gen.Case
		showIndex int
		richest   int
		events    int
		byComp    = map[domain.Compartment]int{}
		byRisk    = map[domain.RiskBand]int{}
		closed    int
		reopened  int
		unmet     int
	)
	for i := range cfg.Cases {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := g.Case()
		if err != nil {
			return err
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
		if cfg.Show == i+1 || (cfg.Show == 0 && distinctTypes(c) > richest) {
			show, showIndex, richest = c, i+1, distinctTypes(c)
		}
	}
	fmt.Fprintf(stdout, "caseledger demo: %d cases, %d events, seed %d (the same seed gives the same cases)\n", cfg.Cases, events, cfg.Seed)
	fmt.Fprintf(stdout, "  events by compartment: police %d, social_work %d, shared %d, sealed %d\n",
		byComp[domain.CompartmentPolice], byComp[domain.CompartmentSocialWork], byComp[domain.CompartmentShared], byComp[domain.CompartmentSealed])
	fmt.Fprintf(stdout, "  risk band at the end: high %d, medium %d, low %d, not assessed %d\n", byRisk[domain.RiskHigh], byRisk[domain.RiskMedium], byRisk[domain.RiskLow], byRisk[domain.RiskUnknown])
	fmt.Fprintf(stdout, "  closed %d, reopened at least once %d, victim contacts missed after high risk or breach %d\n\n", closed, reopened, unmet)
	printTimeline(stdout, showIndex, show)
	return nil
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

// printTimeline prints one case as a table: when it happened, how long after
// it was recorded, who acted, in which compartment, and what.
func printTimeline(w io.Writer, index int, c gen.Case) {
	s := c.State
	risk := string(s.Risk)
	if risk == "" {
		risk = "not assessed"
	}
	fmt.Fprintf(w, "Case %d of the run: %s  status %s, risk %s, %d events, %d parties, agency %s, assigned to %s\n\n",
		index, domain.StreamName(c.ID), s.Status, risk, s.Version, len(s.Parties), s.Agency, s.Assignee)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tOCCURRED (UTC)\tRECORDED\tWHO\tCOMPARTMENT\tWHAT")
	for i, e := range c.Events() {
		lag := e.Meta.RecordedAt.Sub(e.Meta.OccurredAt).Round(time.Minute)
		fmt.Fprintf(tw, "%d\t%s\t+%s\t%s (%s, %s)\t%s\t%s  %s\n", i,
			e.Meta.OccurredAt.UTC().Format("2006-01-02 15:04"), shortDuration(lag),
			e.Meta.Actor.UserID, e.Meta.Actor.Role, e.Meta.Actor.Agency,
			e.Meta.Compartment, domain.Title(e.Type()), domain.Summary(e.Data))
	}
	tw.Flush()
}

func shortDuration(d time.Duration) string {
	if d < time.Hour {
		return strconv.Itoa(int(d.Minutes())) + "m"
	}
	return d.String()
}
