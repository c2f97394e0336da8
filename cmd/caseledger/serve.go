package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/eventstore"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caseledger/caseledger/internal/supervise"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/caseledger/caseledger/projections"
	"github.com/caseledger/caseledger/services/api"
	"github.com/caseledger/caseledger/services/ingest"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/metrics"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/caseledger/caseledger/services/relay"
	"github.com/caseledger/caseledger/services/tracing"
	"github.com/caseledger/caseledger/services/witness"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
)

// serveConfig is the configuration of `caseledger serve`.
type serveConfig struct {
	NATSListen string // embedded server's address (CASELEDGER_NATS_LISTEN)
	NATSURL    string // external NATS instead of the embedded one (CASELEDGER_NATS_URL)
	Role       string // all, ingest, relay or project (CASELEDGER_ROLE)
	Emitters   string // registry of emitters' public keys (CASELEDGER_EMITTERS)
	HTTPListen string // the API's address (CASELEDGER_HTTP_LISTEN)
	// MetricsListen serves /metrics (Prometheus) when set
	// (CASELEDGER_METRICS_LISTEN).
	MetricsListen string
	Tokens        string // static bearer tokens for the API (CASELEDGER_TOKENS)
	// OIDC provider for the API's JWTs (CASELEDGER_OIDC_ISSUER, _AUDIENCE, _JWKS_URL).
	OIDCIssuer, OIDCAudience, OIDCJWKS string
	// The first-contact rule the API's dashboards judge by
	// (CASELEDGER_FIRST_CONTACT_DAYS, CASELEDGER_HOLIDAYS).
	FirstContactDays int
	Holidays         string
	// OTelEndpoint, when set, receives traces over OTLP/gRPC
	// (CASELEDGER_OTEL_ENDPOINT, host:port; _OTEL_INSECURE for no TLS).
	OTelEndpoint string
	OTelInsecure bool
	// EventStoreURL is the store flags' (an external store lets the API
	// run apart from ingest).
	EventStoreURL string
	// NATS security: the embedded server's TLS certificate and key
	// (CASELEDGER_NATS_TLS_CERT, _TLS_KEY); its identities are the keys
	// directory's authority, unless InsecureAnonymous. With an external
	// NATS, this process's creds file and the CA it trusts
	// (CASELEDGER_NATS_CREDS, _CA).
	NATSTLSCert, NATSTLSKey string
	NATSCreds, NATSCA       string
	InsecureAnonymous       bool
	// AllowUnsigned records unsigned commands with the source_system they
	// claim (CASELEDGER_ALLOW_UNSIGNED); by default they are refused.
	AllowUnsigned bool
	// The ledger (CASELEDGER_LEDGER_ORIGIN, _KEY, _INTERVAL).
	LedgerOrigin, LedgerKey string
	LedgerInterval          time.Duration
	// The supervisor: the first delay before a failed role restarts
	// (doubling), and how many failures within five minutes stop the
	// process (CASELEDGER_RESTART_BACKOFF, _RESTART_LIMIT).
	RestartBackoff time.Duration
	RestartLimit   int
	// Witnesses is the ledger's witnesses file (CASELEDGER_WITNESSES).
	Witnesses string
	// Writers is the registry of writer public keys the ledger checks
	// appends against (CASELEDGER_WRITERS), one key a line.
	Writers string
}

var roles = []string{"all", "ingest", "relay", "project", "api", "ledger"}

// has reports whether the process runs role r: --role takes one role, or
// several separated by commas (e.g. ingest,api), or all.
func (c serveConfig) has(r string) bool {
	for _, x := range strings.Split(c.Role, ",") {
		if x = strings.TrimSpace(x); x == "all" || x == r {
			return true
		}
	}
	return false
}

// writes reports whether the process appends to the record: ingest
// (commands), the ledger (checkpoints) and the API (access records).
func (c serveConfig) writes() bool { return c.has("ingest") || c.has("ledger") || c.has("api") }

func (c serveConfig) Validate() error {
	var errs []error
	if c.NATSURL == "" {
		if _, _, err := splitListen(c.NATSListen); err != nil {
			errs = append(errs, err)
		}
	} else if !hasAnyPrefix(c.NATSURL, "nats://", "tls://", "ws://", "wss://") {
		errs = append(errs, errors.New("--nats-url must start with nats://, tls://, ws:// or wss://"))
	}
	set := 0
	for _, v := range []string{c.OIDCIssuer, c.OIDCAudience, c.OIDCJWKS} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("--oidc-issuer, --oidc-audience and --oidc-jwks-url go together"))
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		errs = append(errs, errors.New("--nats-tls-cert and --nats-tls-key go together"))
	}
	for flag, file := range map[string]string{"--nats-tls-cert": c.NATSTLSCert, "--nats-tls-key": c.NATSTLSKey, "--nats-creds": c.NATSCreds, "--nats-ca": c.NATSCA} {
		if file == "" {
			continue
		}
		if _, err := os.Stat(file); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s cannot be read", flag, file))
		}
	}
	if c.NATSURL != "" && (c.NATSTLSCert != "" || c.InsecureAnonymous) {
		errs = append(errs, errors.New("--nats-tls-cert and --insecure-anonymous configure the embedded server; with --nats-url, configure that server (caseledger natsconf), and give --nats-creds and --nats-ca"))
	}
	if c.NATSURL == "" && (c.NATSCreds != "" || c.NATSCA != "") {
		errs = append(errs, errors.New("--nats-creds and --nats-ca are for an external NATS (--nats-url)"))
	}
	if c.RestartBackoff < 10*time.Millisecond || c.RestartBackoff > time.Minute {
		errs = append(errs, errors.New("--restart-backoff must be a duration from 10ms to 1m"))
	}
	if c.RestartLimit < 1 {
		errs = append(errs, errors.New("--restart-limit must be at least 1"))
	}
	if c.LedgerInterval < time.Second {
		errs = append(errs, errors.New("--ledger-interval must be a duration of at least 1s (e.g. 1m)"))
	}
	if err := (projections.ContactRule{WorkingDays: c.FirstContactDays}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--first-contact-days: %w", err))
	}
	if c.OIDCJWKS != "" && !hasAnyPrefix(c.OIDCJWKS, "https://", "http://127.0.0.1", "http://localhost") {
		errs = append(errs, errors.New("--oidc-jwks-url must be https:// (or http on loopback)"))
	}
	for _, r := range strings.Split(c.Role, ",") {
		if !slices.Contains(roles, strings.TrimSpace(r)) {
			errs = append(errs, fmt.Errorf("--role must be one of %s, or several joined by commas", strings.Join(roles, ", ")))
			break
		}
	}
	if c.EventStoreURL == "" && c.has("api") && !c.has("ingest") {
		// The embedded store has one writer, the ingest process; the API
		// appends an access record before every read, so it runs there.
		errs = append(errs, errors.New("--role api needs to write access records: with the embedded store run it with ingest (--role ingest,api) or use --eventstore-url"))
	}
	return errors.Join(errs...)
}

func splitListen(hp string) (string, string, error) {
	i := strings.LastIndex(hp, ":")
	if i < 0 || i == len(hp)-1 {
		return "", "", errors.New("--nats-listen must be host:port")
	}
	return hp[:i], hp[i+1:], nil
}

// runServe runs caseledger's roles until ctx ends (Ctrl-C), then drains:
// ingest finishes its batch, the relay stops after its current publish, the
// store closes, and the embedded NATS server shuts down last.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("serve", getenv, stderr)
	// Every setting: its field, flag, environment variable, default and
	// usage, once. Flags override the environment, which overrides the
	// defaults; a malformed environment value is reported with the rest.
	var cfg serveConfig
	f.str(&cfg.NATSListen, "nats-listen", "CASELEDGER_NATS_LISTEN", "127.0.0.1:4222", "address of the embedded NATS server, for outside emitters")
	f.str(&cfg.NATSURL, "nats-url", "CASELEDGER_NATS_URL", "", "external NATS instead of the embedded server")
	f.str(&cfg.Role, "role", "CASELEDGER_ROLE", "all", "the roles to run: "+strings.Join(roles, ", ")+", or several joined by commas")
	f.str(&cfg.HTTPListen, "http-listen", "CASELEDGER_HTTP_LISTEN", "127.0.0.1:8080", "address of the HTTP API")
	f.str(&cfg.MetricsListen, "metrics-listen", "CASELEDGER_METRICS_LISTEN", "", "address of the Prometheus /metrics page and /healthz, /readyz, e.g. 127.0.0.1:9464; off when empty, so roles on one host need no port each")
	f.str(&cfg.Tokens, "tokens", "CASELEDGER_TOKENS", "", "JSON file of static bearer tokens {token, user_id, role, agency}; the API runs only with one (or OIDC)")
	f.str(&cfg.OIDCIssuer, "oidc-issuer", "CASELEDGER_OIDC_ISSUER", "", "OpenID Connect issuer whose JWTs the API accepts")
	f.str(&cfg.OIDCAudience, "oidc-audience", "CASELEDGER_OIDC_AUDIENCE", "", "audience the JWTs must name")
	f.str(&cfg.OIDCJWKS, "oidc-jwks-url", "CASELEDGER_OIDC_JWKS_URL", "", "the provider's JWKS URL")
	f.integer(&cfg.FirstContactDays, "first-contact-days", "CASELEDGER_FIRST_CONTACT_DAYS", projections.DefaultContactRule().WorkingDays, "working days within which a victim contact is due after a high risk band or a breach")
	f.str(&cfg.Holidays, "holidays", "CASELEDGER_HOLIDAYS", "", "file of public holidays, one YYYY-MM-DD per line, skipped as working days")
	f.str(&cfg.NATSTLSCert, "nats-tls-cert", "CASELEDGER_NATS_TLS_CERT", "", "TLS certificate of the embedded NATS server")
	f.str(&cfg.NATSTLSKey, "nats-tls-key", "CASELEDGER_NATS_TLS_KEY", "", "its private key")
	f.boolean(&cfg.InsecureAnonymous, "insecure-anonymous", "CASELEDGER_INSECURE_ANONYMOUS", false, "let any client into the embedded NATS server without an identity (experiments only: logged at ERROR on every start)")
	f.str(&cfg.NATSCreds, "nats-creds", "CASELEDGER_NATS_CREDS", "", "this process's NATS creds file for an external NATS (default KEYS_DIR/nats/<role>.creds when there is one)")
	f.str(&cfg.NATSCA, "nats-ca", "CASELEDGER_NATS_CA", "", "CA file of an external NATS server's TLS certificate")
	f.str(&cfg.OTelEndpoint, "otel-endpoint", "CASELEDGER_OTEL_ENDPOINT", "", "OpenTelemetry collector (host:port, OTLP/gRPC) to send traces to")
	f.boolean(&cfg.OTelInsecure, "otel-insecure", "CASELEDGER_OTEL_INSECURE", false, "send traces without TLS")
	f.str(&cfg.LedgerOrigin, "ledger-origin", "CASELEDGER_LEDGER_ORIGIN", defaultOrigin, "the Merkle log's name, also its signing key's")
	f.str(&cfg.LedgerKey, "ledger-key", "CASELEDGER_LEDGER_KEY", "", "the ledger's signing key file instead of KEYS_DIR/ledger/signing.key, generated there on first start")
	f.duration(&cfg.LedgerInterval, "ledger-interval", "CASELEDGER_LEDGER_INTERVAL", time.Minute, "how often the ledger signs a checkpoint, and once more at shutdown")
	f.duration(&cfg.RestartBackoff, "restart-backoff", "CASELEDGER_RESTART_BACKOFF", time.Second, "first delay before a failed role is restarted, doubling up to 30s")
	f.integer(&cfg.RestartLimit, "restart-limit", "CASELEDGER_RESTART_LIMIT", 5, "failures of one role within five minutes that stop the process, for its service manager to restart it")
	f.str(&cfg.Emitters, "emitters", "CASELEDGER_EMITTERS", "", "JSON registry of emitters' public keys, source systems and agencies: only commands they sign are recorded (default KEYS_DIR/emitters/registry.json, made on first start with a local emitter)")
	f.boolean(&cfg.AllowUnsigned, "allow-unsigned", "CASELEDGER_ALLOW_UNSIGNED", false, "record unsigned commands with the source_system they claim (logged at ERROR on every start)")
	f.str(&cfg.Writers, "writers", "CASELEDGER_WRITERS", "", "file of writer public keys, one a line (each process's KEYS_DIR/writer/ledger.pub): the ledger logs only what they signed (default on a single node: this process's own)")
	f.str(&cfg.Witnesses, "witnesses", "CASELEDGER_WITNESSES", "", "JSON file {quorum, witnesses: [{url, key}]}: the ledger has every checkpoint cosigned, and refuses to start when a witness saw a longer or other log")
	if err := f.parse(args, 0, func() error { cfg.EventStoreURL = f.store.EventStoreURL; return cfg.Validate() }); err != nil {
		return err
	}
	// Everything that can be checked is checked before anything is made
	// (a data directory, a key, the NATS server): the files flags name are
	// read and the ports taken, and every problem is reported at once.
	pre, err := prepareServe(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	defer pre.close()
	registry, rule := pre.registry, pre.rule
	base := slog.New(slog.NewJSONHandler(stderr, nil))
	log := base.With("component", "serve")
	if cfg.OTelEndpoint != "" {
		shutdown, err := tracing.Setup(ctx, cfg.OTelEndpoint, "caseledger-"+strings.ReplaceAll(cfg.Role, ",", "-"), cfg.OTelInsecure)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = shutdown(sctx)
		}()
	}
	if cfg.has("ingest") && registry == nil {
		var path string
		if registry, path, err = localEmitter(f.store.keysDir()); err != nil {
			return err
		}
		log.Info("emitters registry", "file", path, "emitters", registry.Len())
	}
	if cfg.AllowUnsigned && cfg.has("ingest") {
		log.Error("--allow-unsigned: unsigned commands are recorded with the source_system and agency they claim; any client that reaches NATS can write to the record")
	}

	url := cfg.NATSURL
	var (
		connect     []nats.Option
		natsStorage func() error // the embedded server's storage fault
	)
	if url == "" {
		var auth *natsbus.Authority
		if cfg.InsecureAnonymous {
			log.Error("--insecure-anonymous: the embedded NATS server takes anonymous clients; any local process can read every event stream and send commands", "listen", cfg.NATSListen)
		} else {
			var created []string
			if auth, created, err = natsbus.OpenAuthority(f.store.keysDir()); err != nil {
				return err
			}
			if len(created) > 0 {
				log.Info("NATS identities written", "dir", auth.Dir(), "files", len(created))
			}
		}
		storeKey, err := natsbus.LoadStoreKey(f.store.keysDir())
		if err != nil {
			return err
		}
		ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: cfg.NATSListen, StoreDir: filepath.Join(f.store.DataDir, "nats"),
			TLSCert: cfg.NATSTLSCert, TLSKey: cfg.NATSTLSKey, Authority: auth, Logger: base.With("component", "nats"), StoreKey: storeKey})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		// A full or unwritable disk stops JetStream; it is restarted in
		// process once the directory takes writes again.
		sctx, stopSupervise := context.WithCancel(ctx)
		defer stopSupervise()
		go ns.Supervise(sctx, time.Second)
		natsStorage = ns.StorageFault
		if auth != nil {
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			go ns.WatchRevocations(wctx, auth, func(err error) { log.Error("NATS revocations not applied", "error", err) })
		}
		url = ns.ClientURL()
		// The process's own roles talk to its server in process: no
		// network, no TLS, an identity of their own made for this run.
		connect = append(connect, ns.Self...)
	} else {
		creds := cfg.NATSCreds
		if creds == "" {
			creds = defaultCreds(f.store.keysDir(), cfg.Role)
		}
		opts, err := natsbus.ClientOptions(creds, cfg.NATSCA)
		if err != nil {
			return err
		}
		connect = append(connect, opts...)
	}
	nc, err := natsbus.Connect(url, "caseledger-"+cfg.Role, connect...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstreamOf(nc)
	if err != nil {
		return err
	}
	// The roles that write to streams make sure they exist; readers, whose
	// credentials may not create streams, only use them.
	if cfg.has("ingest") || cfg.has("relay") {
		if err := natsbus.EnsureStreams(ctx, js, natsbus.Defaults); err != nil {
			return err
		}
	}
	if _, err := js.Stream(ctx, natsbus.LegacyCaseEventsStream); err == nil && (cfg.has("ingest") || cfg.has("relay")) {
		log.Warn("the stream CASE_EVENTS of earlier versions is still there, with every compartment's payloads; it is no longer written: delete it once nothing reads it", "stream", natsbus.LegacyCaseEventsStream)
	}
	// The relay and projection roles only read the record, so on a single
	// node they can run as processes of their own beside the one that holds
	// the embedded store's lock: they are given a Reader, and store (the
	// writer) is nil in such a process.
	var (
		store  eventstore.Store
		reader eventstore.Reader
	)
	if cfg.writes() {
		store, err = openStore(ctx, f.store)
		reader = store
	} else {
		reader, err = openReader(ctx, f.store)
	}
	if err != nil {
		return err
	}
	defer reader.Close()
	if ps, ok := store.(personal.Store); ok {
		// An erasure recorded whose key destruction failed (a full or
		// read-only keys directory) is finished: at start, from the
		// record's erasures (embedded store: one indexed-less scan, once),
		// and every half minute for those this process left pending.
		elog := base.With("component", "personal")
		ps.Keys.Log = elog
		if f.store.EventStoreURL == "" {
			erased, err := recordedErasures(ctx, f.store.DataDir)
			if err == nil {
				_, err = replayErasures(ctx, ps.Keys, erased, func(subject string) {
					elog.Error("an erasure was recorded but its key had survived; destroyed now", "subject", subject)
				})
			}
			if err != nil {
				elog.Error("recorded erasures not replayed on the key store", "error", err)
			}
		}
		go func() {
			// Keys left pending by an erasure, every half minute; the
			// creation of new keys into the record, every two seconds.
			retry, record := time.NewTicker(30*time.Second), time.NewTicker(2*time.Second)
			defer retry.Stop()
			defer record.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-retry.C:
					ps.Keys.RetryPending(ctx)
				case <-record.C:
					if _, err := ps.RecordKeys(ctx); err != nil && ctx.Err() == nil {
						elog.Warn("the creation of data keys is not recorded yet; trying again", "error", err.Error())
					}
				}
			}
		}()
	}
	// Preflight: every connection the roles need answers before any role
	// starts, so a misconfigured deployment stops here, whole.
	if err := preflight(ctx, cfg, f.store, reader); err != nil {
		return err
	}

	var (
		runners []*projections.Runner
		proofs  *api.Ledger // the Merkle log for the API's exports
	)
	// The roles run under one supervisor: a failure is logged at once,
	// turns /readyz 503 naming the role, and the role is restarted; one
	// that keeps failing stops the process (non-zero exit). At shutdown the
	// stages stop in order: intake (ingest, the API) drains first, then
	// the relay and the projections, then the ledger signs its last
	// checkpoint, and the metrics page goes last.
	const (
		stageIntake = iota
		stageFollowers
		stageLedger
		stageOps
	)
	group := &supervise.Group{Logger: base.With("component", "supervisor"), Backoff: cfg.RestartBackoff, Limit: cfg.RestartLimit}
	holder := holderName("serve")
	reg := metrics.NewRegistry()
	var sources = metrics.Sources{Store: reader}
	var readModelDB *sql.DB
	// The data directory is probed every second: a full or read-only disk
	// turns /readyz 503 at once, and ingest takes no command meanwhile
	// (with the embedded store, whose files are there).
	dataDir := &writable.Fault{Log: base.With("component", "storage"), What: "writes to the data directory", Then: "ingest takes no command and the read models wait until it takes them again"}
	checks := []metrics.Check{}
	if f.store.EventStoreURL == "" || f.store.ReadModelURL == "" {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go writable.Watch(wctx, f.store.DataDir, time.Second, dataDir)
		checks = append(checks, metrics.Check{Name: "data directory", Fn: func(context.Context) error { return dataDir.Err() }})
	}
	if natsStorage != nil {
		checks = append(checks, metrics.Check{Name: "nats storage", Fn: func(context.Context) error { return natsStorage() }})
	}
	if cfg.has("ingest") {
		appends, err := metrics.NewAppendLatency(reg)
		if err != nil {
			return err
		}
		icfg := ingest.Config{Logger: base.With("component", "ingest"), Emitters: registry, AllowUnsigned: cfg.AllowUnsigned, ObserveAppend: appends.Observe}
		if f.store.EventStoreURL == "" {
			icfg.Writable = dataDir.Err
		}
		in, err := ingest.New(nc, store, icfg)
		if err != nil {
			return err
		}
		checks = append(checks, metrics.Check{Name: "ingest", Fn: func(context.Context) error { return in.Fault() }})
		if err := in.Preflight(ctx); err != nil {
			return err
		}
		sources.Ingest = in
		group.Add("ingest", stageIntake, true, in.Run)
	}
	if cfg.has("relay") {
		rl, err := relay.New(nc, reader, base.With("component", "relay"))
		if err != nil {
			return err
		}
		sources.Relay = rl
		group.Add("relay", stageFollowers, true, rl.Run)
		checks = append(checks, metrics.Check{Name: "relay", Fn: func(context.Context) error { return rl.Fault() }})
	}
	if cfg.has("project") {
		db, err := openReadModels(f.store)
		if err != nil {
			return err
		}
		defer db.Close()
		readModelDB = db
		for _, p := range readModels {
			pr, err := projections.NewRunner(ctx, db, reader, p)
			if err != nil {
				return err
			}
			if cfg.OTelEndpoint != "" {
				pr.AfterCommit = tracing.Projected
			}
			pr.Holder, pr.Stale = holder, staleHolder
			// A read model that cannot be written waits (named on
			// /readyz) instead of failing until the process stops.
			fault := &writable.Fault{Log: base.With("component", "project"), What: "projection " + p.Name() + "'s writes to its read model", Then: "it resumes from its checkpoint once they succeed again"}
			pr.WaitOut = func(err error) bool {
				if err == nil {
					fault.Clear()
					return false
				}
				if !writable.IsStorage(err) {
					return false
				}
				fault.Set(err.Error())
				return true
			}
			checks = append(checks, metrics.Check{Name: "project " + p.Name() + " storage", Fn: func(context.Context) error { return fault.Err() }})
			runners = append(runners, pr)
			group.Add("project "+p.Name(), stageFollowers, true, pr.Run)
		}
	}
	if cfg.has("ledger") {
		// The ledger appends its checkpoints to the record, so it runs
		// where the store is written: in the single-node process, or as
		// its own role beside EventStoreDB/KurrentDB.
		keys, err := ledgerKeys(f.store, cfg.LedgerOrigin, cfg.LedgerKey)
		if err != nil {
			return err
		}
		lg, err := ledger.Open(filepath.Join(ledgerDir(f.store), "tree"))
		if err != nil {
			return err
		}
		defer lg.Close()
		svc := &ledger.Service{Log: lg, Keys: keys, Store: store, NATS: nc, Interval: cfg.LedgerInterval, Logger: base.With("component", "ledger")}
		// The ledger logs only what a registered writer signed. On a single
		// node the one writer is this process; beside EventStoreDB each
		// role's process writes with its own key, and the registry of
		// their public keys (--writers) is needed to check them.
		switch {
		case cfg.Writers != "":
			if svc.Writers, err = loadWriters(cfg.Writers); err != nil {
				return err
			}
		case f.store.EventStoreURL == "":
			if svc.Writers, err = localWriters(f.store); err != nil {
				return err
			}
		default:
			log.Warn("no --writers registry: the ledger logs appends without checking their writer signatures")
		}
		if err := svc.Start(ctx); err != nil {
			return err
		}
		if q := pre.witnesses; q != nil {
			// What the witnesses saw, the record must still extend: a
			// rollback or a fork stops the ledger before it signs again.
			if err := checkWitnesses(ctx, q.Clients, keys, lg, stdout); errors.Is(err, witness.ErrRolledBack) {
				return fmt.Errorf("ledger: %w", err)
			} else if err != nil {
				log.Warn("a witness could not be asked at start; checkpoints are witnessed when it answers", "err", err.Error())
			}
			svc.Cosign = q.Cosign
		}
		group.Add("ledger", stageLedger, true, svc.Run)
		checks = append(checks, metrics.Check{Name: "ledger", Fn: func(context.Context) error { return svc.Fault() }})
		proofs = &api.Ledger{Tree: svc.Fresh, Keys: keys}
		sources.Ledger = svc
	}
	if ln := pre.httpLn; ln != nil {
		tokens := pre.tokens
		db, err := openReadModels(f.store)
		if err != nil {
			return err
		}
		defer db.Close()
		if proofs == nil {
			// The API on its own follows the record in memory and checks
			// checkpoints with the public key it is given.
			if keys, err := apiLedgerKeys(f.store, getenv("CASELEDGER_LEDGER_PUBKEY"), cfg.LedgerKey); err == nil {
				proofs = &api.Ledger{Tree: (&ledger.Follower{Store: reader}).Fresh, Keys: keys}
			} else {
				log.Warn("no ledger key: the export endpoint answers 503", "err", err)
			}
		}
		handler := api.New(db, store, tokens, nil).WithContactRule(rule).WithLedger(proofs).WithLogger(base.With("component", "api"))
		if ps, ok := store.(personal.Store); ok {
			handler = handler.WithKeys(ps.Keys)
		}
		sources.API = handler
		readModelDB = db
		if cfg.OIDCIssuer != "" {
			handler = handler.WithOIDC(&api.OIDC{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, JWKSURL: cfg.OIDCJWKS})
		}
		group.Add("api", stageIntake, false, serveHTTP(&http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, ln))
		fmt.Fprintf(stdout, "caseledger API on http://%s\n", ln.Addr())
	} else if cfg.has("api") {
		log.Warn("no --tokens file and no OIDC provider: the HTTP API is not started")
	}
	if cfg.MetricsListen != "" {
		if err := metrics.RegisterProjections(reg, runners, nil); err != nil {
			return err
		}
		if err := metrics.RegisterRoles(reg, sources, nil); err != nil {
			return err
		}
		ln := pre.metricsLn
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(reg))
		checks := append(append(readiness(nc, reader, readModelDB), checks...), metrics.Check{Name: "roles", Fn: group.Check})
		for _, pr := range runners {
			checks = append(checks, metrics.Check{Name: "project " + pr.Name(), Fn: progressing(pr, time.Now(), 2*projections.HolderTTL)})
		}
		metrics.Health(mux, checks)
		if err := metrics.RegisterChecks(reg, checks); err != nil {
			return err
		}
		group.Add("metrics", stageOps, false, serveHTTP(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln))
		fmt.Fprintf(stdout, "caseledger metrics and health on http://%s/metrics, /healthz, /readyz\n", ln.Addr())
	}
	fmt.Fprintf(stdout, "caseledger serving (role %s): NATS %s, record %s\n", cfg.Role, url, f.store.where())
	if err := group.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "caseledger stopped cleanly")
	return nil
}

// loadWriters reads a registry of writer public keys, one a line.
func loadWriters(path string) ([]note.Verifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--writers: %w", err)
	}
	var out []note.Verifier
	for i, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("--writers %s line %d: not a writer public key", path, i+1)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--writers %s lists no key", path)
	}
	return out, nil
}

// served is what prepareServe read and opened before anything was made.
type served struct {
	witnesses         *witness.Quorum
	registry          *intake.Registry
	tokens            *api.Tokens
	rule              projections.ContactRule
	httpLn, metricsLn net.Listener
}

func (p served) close() {
	for _, ln := range []net.Listener{p.httpLn, p.metricsLn} {
		if ln != nil {
			ln.Close() // after a clean stop, already closed
		}
	}
}

// prepareServe reads every file serve's flags name and takes its ports
// (the API's and the metrics page's, kept open for the roles; the
// embedded NATS server's, tried), joining every problem into one error.
func prepareServe(cfg serveConfig) (served, error) {
	var (
		p    = served{rule: projections.ContactRule{WorkingDays: cfg.FirstContactDays}}
		errs []error
		err  error
	)
	if cfg.Holidays != "" {
		if p.rule.Holidays, err = projections.LoadHolidays(cfg.Holidays); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Emitters != "" {
		if p.registry, err = intake.LoadRegistry(cfg.Emitters); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Witnesses != "" {
		wc, clients, err := witness.LoadConfig(cfg.Witnesses)
		if err != nil {
			errs = append(errs, err)
		} else {
			p.witnesses = &witness.Quorum{Clients: clients, N: wc.Quorum}
		}
	}
	apiOn := cfg.has("api") && (cfg.Tokens != "" || cfg.OIDCIssuer != "")
	if apiOn && cfg.Tokens != "" {
		if p.tokens, err = api.LoadTokens(cfg.Tokens); err != nil {
			errs = append(errs, err)
		}
	}
	if apiOn {
		if p.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			errs = append(errs, fmt.Errorf("--http-listen %s cannot be used: %w", cfg.HTTPListen, unwrapOp(err)))
		}
	}
	if cfg.MetricsListen != "" {
		if p.metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-listen %s cannot be used: %w", cfg.MetricsListen, unwrapOp(err)))
		}
	}
	if cfg.NATSURL == "" {
		if ln, err := net.Listen("tcp", cfg.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %s cannot be used: %w", cfg.NATSListen, unwrapOp(err)))
		} else {
			ln.Close()
		}
	}
	if len(errs) > 0 {
		p.close()
		return served{}, errors.Join(errs...)
	}
	return p, nil
}

// unwrapOp keeps a listen error's cause ("address already in use") without
// repeating the operation and address.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func jetstreamOf(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}

// serveHTTP serves on ln until ctx ends, then shuts down gracefully.
func serveHTTP(hs *http.Server, ln net.Listener) func(context.Context) error {
	return func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// apiLedgerKeys finds the ledger's public key for an API running apart
// from the ledger: the public key file (CASELEDGER_LEDGER_PUBKEY; the API
// needs no signing key), the signing key file, or DATA_DIR/ledger/ledger.pub.
func apiLedgerKeys(c storeConfig, pubkey, keyFile string) (ledger.Keys, error) {
	switch {
	case pubkey != "":
		return ledger.LoadVerifier(pubkey)
	case keyFile != "":
		return ledger.LoadKeys(keyFile)
	}
	return ledger.LoadVerifier(filepath.Join(ledgerKeyDir(c), ledger.PublicKeyFile))
}

// progressing is a projection's readiness: it fails when the record holds
// events the read model has not applied and its checkpoint has not moved
// for stall (since started, before the first), whether this process's
// runner is stuck or waits on standby behind a holder that does not write.
func progressing(pr *projections.Runner, started time.Time, stall time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		lag, err := pr.Lag(ctx, time.Now())
		if err != nil || lag.Events == 0 {
			return err
		}
		last := lag.Checkpointed
		if last.IsZero() {
			last = started
		}
		if idle := time.Since(last); idle > stall {
			if pr.Standby.Load() {
				return fmt.Errorf("%d events behind, on standby: the read model's holder has not written for %s", lag.Events, idle.Round(time.Second))
			}
			return fmt.Errorf("%d events behind, no progress for %s", lag.Events, idle.Round(time.Second))
		}
		return nil
	}
}

// readiness lists what the role needs to do its work: NATS, the record
// and, for the roles that use them, the read models.
func readiness(nc *nats.Conn, store eventstore.Reader, db *sql.DB) []metrics.Check {
	checks := []metrics.Check{
		{Name: "nats", Fn: func(context.Context) error {
			if st := nc.Status(); st != nats.CONNECTED {
				return fmt.Errorf("NATS connection is %s", strings.ToLower(st.String()))
			}
			return nil
		}},
		{Name: "store", Fn: func(ctx context.Context) error {
			_, err := store.ReadAll(ctx, eventstore.Start, 1)
			return err
		}},
	}
	if db != nil {
		checks = append(checks, metrics.Check{Name: "readmodels", Fn: func(ctx context.Context) error { return db.PingContext(ctx) }})
	}
	return checks
}

// preflight checks, with a deadline, that the record and (for the roles
// that use them) the read models answer; each problem is one line.
func preflight(ctx context.Context, cfg serveConfig, sc storeConfig, store eventstore.Reader) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var errs []error
	if _, err := store.ReadAll(ctx, eventstore.Start, 1); err != nil {
		errs = append(errs, fmt.Errorf("the record (%s) cannot be read: %v", sc.where(), err))
	}
	if cfg.has("project") || cfg.has("api") {
		db, err := openReadModels(sc)
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err != nil {
			where := "DATA_DIR/readmodels.db"
			if sc.ReadModelURL != "" {
				where = "--readmodel-url"
			}
			errs = append(errs, fmt.Errorf("the read models (%s) cannot be reached: %v", where, err))
		}
	}
	return errors.Join(errs...)
}
