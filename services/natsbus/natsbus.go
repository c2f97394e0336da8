// Package natsbus is caseledger's NATS wiring: the subjects, the JetStream
// streams (INTAKE, one CASE_EVENTS_<COMPARTMENT> per compartment, REJECTED,
// CHECKPOINTS), the identities and their permissions, and the embedded
// server a single node runs. Ingest, relay and the emitters' client all take their names
// from here, so that a subject is spelled once.
//
// Subjects carry ids and type names only, never personal data.
package natsbus

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/internal/writable"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream and subject names. Frozen: renaming one strands what is stored.
const (
	IntakeStream   = "INTAKE"
	RejectedStream = "REJECTED"
	// LegacyCaseEventsStream is the single event stream of earlier
	// versions, which carried every compartment's payloads: it is no longer
	// written, and serve warns while it exists.
	LegacyCaseEventsStream = "CASE_EVENTS"
	// CheckpointsStream keeps every checkpoint the ledger publishes, signed
	// and then cosigned, on CheckpointsSubject: no one deletes or purges it.
	CheckpointsStream  = "CHECKPOINTS"
	CheckpointsSubject = "caseledger.ledger.checkpoints"

	IntakePrefix   = "caseledger.intake."   // + command name
	EventsPrefix   = "caseledger.events."   // + compartment + "." + case id + "." + event type
	RejectedPrefix = "caseledger.rejected." // + command name

	// IngestConsumer is the durable pull consumer of INTAKE.
	IngestConsumer = "ingest"
)

// Headers caseledger sets or reads.
const (
	// HeaderReplyTo names the inbox where ingest answers a command sent
	// with Send. JetStream answers the publish itself (the PubAck), so the
	// outcome needs an address of its own.
	HeaderReplyTo = "Caseledger-Reply-To"
	// HeaderPosition carries a relayed event's position in the store's
	// global log: the relay resumes after the last one in CASE_EVENTS.
	HeaderPosition = "Caseledger-Position"
	// HeaderReason, HeaderCode and HeaderField describe a rejection on
	// REJECTED beside the original message.
	HeaderCode   = "Caseledger-Code"
	HeaderField  = "Caseledger-Field"
	HeaderReason = "Caseledger-Reason"
)

// IntakeSubject is the subject a command is sent on.
func IntakeSubject(command string) string { return IntakePrefix + command }

// EventCompartments are the compartments with an event stream each. The
// sealed stream carries envelopes only (ids, type, version, hashes), never
// a sealed entry's payload or metadata.
var EventCompartments = []domain.Compartment{domain.CompartmentPolice, domain.CompartmentSocialWork, domain.CompartmentShared, domain.CompartmentSealed}

// EventStream is the stream of a compartment's events.
func EventStream(c domain.Compartment) string {
	return "CASE_EVENTS_" + strings.ToUpper(string(c))
}

// EventSubject is the subject a committed event is relayed on: its
// compartment first, so that permissions and streams split on it.
func EventSubject(c domain.Compartment, caseID, eventType string) string {
	return EventsPrefix + string(c) + "." + caseID + "." + eventType
}

// Streams are the names of every caseledger stream.
func Streams() []string {
	out := []string{IntakeStream, RejectedStream, CheckpointsStream}
	for _, c := range EventCompartments {
		out = append(out, EventStream(c))
	}
	return out
}

// CommandOf returns the command name of an intake subject.
func CommandOf(subject string) (string, bool) {
	name, ok := strings.CutPrefix(subject, IntakePrefix)
	return name, ok && name != "" && !strings.Contains(name, ".")
}

// Config sizes the streams.
type Config struct {
	Replicas       int           // 1 for a single node, 3 on a cluster
	DedupWindow    time.Duration // INTAKE and CASE_EVENTS duplicate windows
	MaxMsgSize     int32         // largest message INTAKE stores; ingest refuses smaller ones (see ingest.Config.MaxBody) with a structured rejection
	RejectedMaxAge time.Duration
}

// Defaults for a single node.
var Defaults = Config{Replicas: 1, DedupWindow: 24 * time.Hour, MaxMsgSize: MaxPayload, RejectedMaxAge: 90 * 24 * time.Hour}

// MaxCommandSize is the largest command caseledger takes, on NATS and over
// HTTP; ingest rejects a larger one (too_large) and keeps it on REJECTED.
const MaxCommandSize = 256 << 10

// MaxPayload is the embedded server's largest message, and INTAKE's: any
// message a client can publish is stored, so an oversized command is
// rejected with a reason rather than dropped by the stream; a larger one
// is refused by the client library itself.
const MaxPayload = 8 << 20

// EnsureStreams creates or updates caseledger's streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c Config) error {
	streams := []jetstream.StreamConfig{
		{
			Name: IntakeStream, Subjects: []string{IntakePrefix + ">"},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
			Duplicates: c.DedupWindow, Replicas: c.Replicas, MaxMsgSize: c.MaxMsgSize,
			Description: "commands from emitting services, consumed by ingest",
		},
		{
			Name: CheckpointsStream, Subjects: []string{CheckpointsSubject},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: c.Replicas, DenyDelete: true, DenyPurge: true,
			Description: "the ledger's signed and witnessed checkpoints, as published",
		},
		{
			Name: RejectedStream, Subjects: []string{RejectedPrefix + ">"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: c.Replicas, MaxAge: c.RejectedMaxAge, DenyDelete: true,
			Description: "refused commands with their reason",
		},
	}
	for _, comp := range EventCompartments {
		desc := "committed case events of the " + string(comp) + " compartment, relayed from the store"
		if comp == domain.CompartmentSealed {
			desc = "envelopes (ids, type, version, hashes) of sealed entries, never their payload"
		}
		streams = append(streams, jetstream.StreamConfig{
			Name: EventStream(comp), Subjects: []string{EventsPrefix + string(comp) + ".>"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Duplicates: c.DedupWindow, Replicas: c.Replicas,
			DenyDelete: true, DenyPurge: true, Description: desc,
		})
	}
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("natsbus: stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// EmbeddedConfig configures the server a single node embeds.
type EmbeddedConfig struct {
	Listen   string // host:port for outside emitters; "" or port -1 for a random port
	StoreDir string // JetStream's directory
	// TLSCert and TLSKey, when set, make clients connect with TLS.
	TLSCert, TLSKey string
	// Authority, when set, is the only source of identities allowed in,
	// each with its role's subjects; the process itself gets an identity of
	// its own (see Embedded.Self). Without it the server takes anonymous
	// clients (serve --insecure-anonymous).
	Authority *Authority
	// Logger receives the server's log (default: discarded).
	Logger *slog.Logger
	// StoreKey, when set, encrypts JetStream's files at rest (AES-GCM):
	// the commands waiting in INTAKE, REJECTED's bodies and what a
	// partly deleted block still holds are unreadable without it. Kept
	// in the keys directory (StoreKeyFile), never in the store's.
	StoreKey string
}

// StoreKeyFile is the JetStream encryption key's file in the identities
// directory of the keys directory.
const StoreKeyFile = "jetstream.key"

// LoadStoreKey reads the embedded JetStream's encryption key from the keys
// directory, making it (0600) on first use.
func LoadStoreKey(keysDir string) (string, error) {
	dir := filepath.Join(keysDir, AuthorityDir)
	path := filepath.Join(dir, StoreKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		if k := strings.TrimSpace(string(b)); len(k) >= 32 {
			return k, nil
		}
		return "", fmt.Errorf("natsbus: %s is not a JetStream key (64 hex characters)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("natsbus: JetStream key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("natsbus: JetStream key: %w", err)
	}
	k := hex.EncodeToString(key)
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("natsbus: JetStream key: %w", err)
	}
	return k, nil
}

// Embedded is a running embedded server.
type Embedded struct {
	*server.Server
	// Self are the connect options of the process's own connections: in
	// process (no network), with its own identity when the server requires
	// users.
	Self []nats.Option

	storeDir   string
	fault      *writable.Fault
	probeEvery time.Duration // how often Supervise's write probe runs
	onRestart  func()        // tests: told of each restart of JetStream
}

// StartEmbedded starts a NATS server with JetStream in this process and
// waits until it accepts connections.
func StartEmbedded(c EmbeddedConfig) (*Embedded, error) {
	host, port := "127.0.0.1", -1
	if c.Listen != "" {
		h, p, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, err
		}
		host, port = h, p
	}
	opts := &server.Options{
		ServerName: "caseledger", Host: host, Port: port,
		JetStream: true, StoreDir: c.StoreDir,
		NoSigs: true, NoLog: true,
		MaxPayload: MaxPayload,
	}
	if c.StoreKey != "" {
		// Files stored in clear before are converted on start.
		opts.JetStreamKey, opts.JetStreamCipher = c.StoreKey, server.AES
	}
	self, err := secure(opts, c)
	if err != nil {
		return nil, err
	}
	if c.Authority != nil {
		if err := adoptAnonymousStreams(c.StoreDir, c.Authority.Account()); err != nil {
			return nil, err
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsbus: embedded server: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	fault := &writable.Fault{Log: c.Logger, What: "NATS JetStream's writes", Then: "it stopped storing messages, and is restarted once its directory takes writes again"}
	s.SetLogger(&serverLog{log: c.Logger, fault: fault, seen: map[string]time.Time{}}, false, false)
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, errors.New("natsbus: embedded server did not start within 15s (is the address in use?)")
	}
	e := &Embedded{Server: s, Self: append([]nats.Option{nats.InProcessServer(s)}, self...), storeDir: c.StoreDir, fault: fault, probeEvery: probeEvery}
	if opts.TLS {
		// The in-process pipe reaches this very server object, so the
		// certificate it presents need not be checked against a CA.
		e.Self = append(e.Self, nats.Secure(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}))
	}
	return e, nil
}

// adoptAnonymousStreams moves streams stored by an earlier anonymous run
// (JetStream's global account, $G) into the authority's account, so that
// commands waiting in INTAKE are not stranded when identities are turned
// on. It does nothing when the account already has streams.
func adoptAnonymousStreams(storeDir, account string) error {
	js := filepath.Join(storeDir, "jetstream")
	from, to := filepath.Join(js, server.DEFAULT_GLOBAL_ACCOUNT), filepath.Join(js, account)
	if _, err := os.Stat(from); err != nil {
		return nil
	}
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("natsbus: move the streams of the anonymous account into %s: %w", account, err)
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	i := strings.LastIndex(hp, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("natsbus: listen address %q is not host:port", hp)
	}
	var port int
	if _, err := fmt.Sscanf(hp[i+1:], "%d", &port); err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("natsbus: listen port in %q is not a port number", hp)
	}
	return hp[:i], port, nil
}

// Connect dials NATS with caseledger's reconnect policy: keep trying for
// ever, buffer a little while disconnected.
func Connect(url, name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.ErrorHandler(asyncError),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	return nc, nil
}

// asyncError reports the client library's asynchronous errors (a
// permission refused, a slow consumer) on stderr, as its default does,
// but not the broken pipes of a server going away: reconnecting is
// reported by what waits on it.
func asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
		return
	}
	if sub != nil {
		fmt.Fprintf(os.Stderr, "nats: %v (subscription %s)\n", err, sub.Subject)
		return
	}
	fmt.Fprintf(os.Stderr, "nats: %v\n", err)
}

// Outcome is ingest's answer to a command: accepted with where its events
// landed, or rejected with a code, the field at fault and a fixed reason
// (never a value from the command).
type Outcome struct {
	Accepted  bool   `json:"accepted"`
	Command   string `json:"command"`
	CommandID string `json:"command_id,omitempty"`
	CaseID    string `json:"case_id,omitempty"`

	Stream       string   `json:"stream,omitempty"`
	FirstVersion int64    `json:"first_version,omitempty"`
	LastVersion  int64    `json:"last_version,omitempty"`
	EventIDs     []string `json:"event_ids,omitempty"`
	Duplicate    bool     `json:"duplicate,omitempty"`

	Code   string `json:"code,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Retrying marks an interim answer (code store_unavailable): the
	// command is kept and its outcome follows on the same inbox.
	Retrying bool `json:"retrying,omitempty"`
}
