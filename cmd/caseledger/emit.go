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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go"
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
	cfg := emitConfig{NATSURL: "nats://127.0.0.1:4222", Seed: 1, Concurrency: 64, Timeout: 2 * time.Minute}
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
	f.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "how long each command may wait for its outcome, retried meanwhile through NATS and caseledger restarts")
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
	nc, err := dialRetrying(ctx, cfg.NATSURL, min(cfg.Timeout, 30*time.Second), stderr, opts...)
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
// in order, cases concurrently. Each command is retried through restarts
// of NATS and caseledger until answered or --timeout; a case whose command
// stays unanswered sends nothing more. It reports progress on stderr, and
// on stdout a summary, also after Ctrl-C or a failure: acknowledged,
// refused, unknown (sent, not answered) and not sent. Rerunning with the
// same seed is safe: what was recorded is answered as already recorded.
func emitDemo(ctx context.Context, client *intake.Client, cfg emitConfig, stdout, stderr io.Writer) error {
	g := gen.New(uint64(cfg.Seed))
	work := make(chan gen.Case)
	var (
		st  emitStats
		lat latencies
		wg  sync.WaitGroup
	)
	client.OnRetry = st.retry
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i, step := range c.Steps {
					sctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
					t := time.Now()
					st.sent.Add(1)
					out, err := client.Send(sctx, step.Command)
					cancel()
					lat.add(time.Since(t))
					switch {
					case errors.Is(err, intake.ErrRejected):
						st.rejected.Add(1)
					case err != nil:
						// Not answered: the case's later commands must not
						// go ahead of it.
						st.unknown.Add(1)
						st.notSent.Add(int64(len(c.Steps) - i - 1))
						st.fail(err)
					case out.Duplicate:
						st.duplicates.Add(1)
					default:
						st.accepted.Add(1)
						st.events.Add(int64(len(out.EventIDs)))
					}
					if err != nil && !errors.Is(err, intake.ErrRejected) {
						break
					}
				}
				st.cases.Add(1)
			}
		}()
	}
	stop := st.show(stderr, cfg.Demo)
	start := time.Now()
	started := 0
	for ; started < cfg.Demo && ctx.Err() == nil; started++ {
		c, err := g.Case()
		if err != nil {
			close(work)
			wg.Wait()
			stop()
			return err
		}
		select {
		case work <- c:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	stop()
	elapsed := time.Since(start)
	p50, p99 := lat.percentiles()
	acked := st.accepted.Load() + st.duplicates.Load()
	fmt.Fprintf(stdout, "emitted %d of %d cases: %d commands acknowledged (%d accepted with %d events, %d already recorded), %d refused, %d unknown (sent, not answered), %d not sent; %s (%.0f events/s; outcome p50 %s, p99 %s)\n",
		st.cases.Load(), cfg.Demo, acked, st.accepted.Load(), st.events.Load(), st.duplicates.Load(), st.rejected.Load(), st.unknown.Load(), st.notSent.Load(),
		elapsed.Round(time.Millisecond), float64(st.events.Load())/elapsed.Seconds(), p50, p99)
	if n := st.unknown.Load() + st.notSent.Load(); n > 0 || started < cfg.Demo || ctx.Err() != nil {
		cause := ctx.Err()
		if first := st.first(); first != nil {
			cause = first
		}
		return fmt.Errorf("%d commands not acknowledged and %d cases not started (rerun the same command: what was recorded is answered as already recorded): %v", n, cfg.Demo-started, cause)
	}
	if st.rejected.Load() > 0 {
		return fmt.Errorf("%w: %d commands", errRejected, st.rejected.Load())
	}
	return nil
}

// emitStats counts a demo run's outcomes.
type emitStats struct {
	sent, accepted, duplicates, rejected, unknown, notSent, events, cases, retries atomic.Int64
	mu                                                                             sync.Mutex
	firstErr, lastRetry                                                            error
}

func (s *emitStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil {
		s.firstErr = err
	}
}

func (s *emitStats) first() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}

func (s *emitStats) retry(cause error) {
	s.retries.Add(1)
	s.mu.Lock()
	s.lastRetry = cause
	s.mu.Unlock()
}

// show reports progress on w until the returned stop is called: a bar
// redrawn twice a second on a terminal, a line every ten seconds
// otherwise (a log, a CI run).
func (s *emitStats) show(w io.Writer, total int) (stop func()) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 10 * time.Second
	if tty {
		every = 500 * time.Millisecond
	}
	start := time.Now()
	done := make(chan struct{})
	finished := make(chan struct{})
	shown := false
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if shown && tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			shown = true
			cases, el := s.cases.Load(), time.Since(start)
			acked := s.accepted.Load() + s.duplicates.Load()
			rate := float64(acked) / el.Seconds()
			eta := "?"
			if cases > 0 {
				eta = (time.Duration(float64(el) * float64(int64(total)-cases) / float64(cases))).Round(time.Second).String()
			}
			s.mu.Lock()
			retry := ""
			if s.lastRetry != nil {
				retry = fmt.Sprintf(" · %d retries, last: %v", s.retries.Load(), s.lastRetry)
			}
			s.mu.Unlock()
			line := fmt.Sprintf("%d/%d cases · %d/%d commands acknowledged · %.0f/s · ETA %s%s", cases, total, acked, s.sent.Load(), rate, eta, retry)
			if tty {
				const width = 24
				filled := width * int(cases) / max(total, 1)
				fmt.Fprintf(w, "\r\033[K[%s%s] %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}()
	return func() { close(done); <-finished }
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

// dialRetrying connects to NATS, waiting up to wait for a server that is
// restarting; a refused identity fails at once.
func dialRetrying(ctx context.Context, url string, wait time.Duration, stderr io.Writer, opts ...nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(wait)
	told := false
	for {
		nc, err := intake.Dial(url, opts...)
		if err == nil || errors.Is(err, nats.ErrAuthorization) || strings.Contains(err.Error(), "Authorization") || time.Now().After(deadline) || ctx.Err() != nil {
			return nc, err
		}
		if !told {
			fmt.Fprintf(stderr, "waiting for NATS at %s: %v\n", url, err)
			told = true
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
