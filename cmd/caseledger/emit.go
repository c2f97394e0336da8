package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
)

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// errRejected marks a command that caseledger refused: emit exits 3.
var errRejected = errors.New("rejected")

type emitConfig struct {
	NATSURL     string
	Creds       string
	Command     string
	Demo        int
	Seed        int
	Concurrency int
	Timeout     time.Duration
	Emitter     string
	Key         string
}

func (c emitConfig) Validate() error {
	var errs []error
	if !hasAnyPrefix(c.NATSURL, "nats://", "tls://", "ws://", "wss://") {
		errs = append(errs, errors.New("--nats-url must start with nats://, tls://, ws:// or wss://"))
	}
	switch {
	case c.Demo == 0 && c.Command == "":
		errs = append(errs, errors.New("give --command NAME (and a JSON file or stdin) or --demo N"))
	case c.Demo != 0 && c.Command != "":
		errs = append(errs, errors.New("--command and --demo exclude each other"))
	case c.Command != "" && domain.CommandGoType(c.Command) == nil:
		errs = append(errs, fmt.Errorf("--command %q is not a caseledger command (see docs/asyncapi.yaml)", c.Command))
	}
	if c.Demo < 0 || c.Demo > maxDemoCases {
		errs = append(errs, fmt.Errorf("--demo must be between 1 and %d", maxDemoCases))
	}
	if c.Concurrency < 1 || c.Concurrency > 4096 {
		errs = append(errs, errors.New("--concurrency must be between 1 and 4096"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	if (c.Emitter == "") != (c.Key == "") {
		errs = append(errs, errors.New("--emitter and --key go together"))
	}
	return errors.Join(errs...)
}

// runEmit sends one command (from a file or stdin) or the commands of
// generated cases to caseledger over NATS, and reports the outcomes.
func runEmit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, stdin io.Reader) error {
	f := newFlags("emit", getenv, stderr)
	cfg := emitConfig{NATSURL: "nats://127.0.0.1:4222", Seed: 1, Concurrency: 64, Timeout: 30 * time.Second}
	if v := getenv("CASELEDGER_NATS_URL"); v != "" {
		cfg.NATSURL = v
	}
	cfg.Creds = getenv("CASELEDGER_NATS_CREDS")
	f.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "NATS to send to (env CASELEDGER_NATS_URL)")
	f.StringVar(&cfg.Creds, "creds", cfg.Creds, "NATS creds file of this emitter (env CASELEDGER_NATS_CREDS; default KEYS_DIR/nats/emitter.creds, written by serve)")
	ca := getenv("CASELEDGER_NATS_CA")
	f.StringVar(&ca, "nats-ca", ca, "CA file that signed the NATS server's TLS certificate (env CASELEDGER_NATS_CA)")
	f.StringVar(&cfg.Command, "command", "", "command name, e.g. open_case; the JSON comes from FILE or stdin")
	f.IntVar(&cfg.Demo, "demo", 0, "send the commands of N generated cases instead")
	f.IntVar(&cfg.Seed, "seed", cfg.Seed, "generator seed for --demo")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "cases sent at once with --demo")
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "how long to wait for each outcome")
	cfg.Emitter, cfg.Key = getenv("CASELEDGER_EMITTER"), getenv("CASELEDGER_EMITTER_KEY")
	f.StringVar(&cfg.Emitter, "emitter", cfg.Emitter, "sign commands as this emitter (env CASELEDGER_EMITTER; default the local emitter serve made, KEYS_DIR/emitters/local.key)")
	f.StringVar(&cfg.Key, "key", cfg.Key, "the emitter's private key file, from caseledger keygen (env CASELEDGER_EMITTER_KEY)")
	if err := f.parseRange(args, 0, 1, func() error { return cfg.Validate() }); err != nil {
		return err
	}
	// What serve wrote in the keys directory is the default identity.
	keys := f.store.keysDir()
	if p := filepath.Join(keys, natsbus.AuthorityDir, natsbus.RoleEmitter+".creds"); cfg.Creds == "" && exists(p) {
		cfg.Creds = p
	}
	if p := filepath.Join(emittersDir(keys), localEmitterName+".key"); cfg.Emitter == "" && exists(p) {
		cfg.Emitter, cfg.Key = localEmitterName, p
	}
	opts, err := natsbus.ClientOptions(cfg.Creds, ca)
	if err != nil {
		return err
	}
	nc, err := intake.Dial(cfg.NATSURL, opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	client, err := intake.New(nc)
	if err != nil {
		return err
	}
	if cfg.Emitter != "" {
		signer, err := intake.LoadSigner(cfg.Emitter, cfg.Key)
		if err != nil {
			return err
		}
		client = client.WithSigner(signer)
	}
	if cfg.Demo > 0 {
		return emitDemo(ctx, client, cfg, stdout, stderr)
	}
	in := stdin
	if f.NArg() == 1 && f.Arg(0) != "-" {
		file, err := os.Open(f.Arg(0))
		if err != nil {
			return fmt.Errorf("read command: %w", err)
		}
		defer file.Close()
		in = file
	}
	body, err := io.ReadAll(io.LimitReader(in, 1<<20+1))
	if err != nil {
		return fmt.Errorf("read command: %w", err)
	}
	cmd, err := domain.DecodeCommand(cfg.Command, body)
	if err != nil {
		return fmt.Errorf("%w: %v", errRejected, err)
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	out, err := client.Send(sctx, cmd)
	b, _ := json.MarshalIndent(out, "", "  ")
	if errors.Is(err, intake.ErrRejected) {
		fmt.Fprintln(stdout, string(b))
		return fmt.Errorf("%w: %s", errRejected, out.Code)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	return nil
}

// emitDemo sends every command of N generated cases: each case's commands
// in order, cases concurrently.
func emitDemo(ctx context.Context, client *intake.Client, cfg emitConfig, stdout, stderr io.Writer) error {
	g := gen.New(uint64(cfg.Seed))
	work := make(chan gen.Case)
	var accepted, duplicates, rejected, events atomic.Int64
	var firstErr error
	var once sync.Once
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var lat latencies
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for _, step := range c.Steps {
					sctx, scancel := context.WithTimeout(wctx, cfg.Timeout)
					t := time.Now()
					out, err := client.Send(sctx, step.Command)
					scancel()
					lat.add(time.Since(t))
					switch {
					case errors.Is(err, intake.ErrRejected):
						rejected.Add(1)
					case err != nil:
						once.Do(func() { firstErr = err; cancel() })
						return
					case out.Duplicate:
						duplicates.Add(1)
					default:
						accepted.Add(1)
						events.Add(int64(len(out.EventIDs)))
					}
				}
			}
		}()
	}
	bar := newProgress(stderr, cfg.Demo)
	start := time.Now()
	for i := range cfg.Demo {
		c, err := g.Case()
		if err != nil {
			close(work)
			wg.Wait()
			return err
		}
		select {
		case work <- c:
		case <-wctx.Done():
		}
		if wctx.Err() != nil {
			break
		}
		bar.step(i + 1)
	}
	close(work)
	wg.Wait()
	bar.done()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	p50, p99 := lat.percentiles()
	fmt.Fprintf(stdout, "emitted %d cases: %d commands accepted (%d events), %d already recorded, %d rejected in %s (%.0f events/s; outcome p50 %s, p99 %s)\n",
		cfg.Demo, accepted.Load(), events.Load(), duplicates.Load(), rejected.Load(), elapsed.Round(time.Millisecond),
		float64(events.Load())/elapsed.Seconds(), p50, p99)
	if rejected.Load() > 0 {
		return fmt.Errorf("%w: %d commands", errRejected, rejected.Load())
	}
	return nil
}

// latencies collects durations for percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) percentiles() (time.Duration, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0
	}
	slices.Sort(l.d)
	return l.d[len(l.d)/2].Round(time.Microsecond), l.d[len(l.d)*99/100].Round(time.Microsecond)
}
