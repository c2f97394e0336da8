package natsbus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/caseledger/caseledger/domain"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Roles a NATS identity can have. Each is a set of subjects (Permissions);
// an identity is a user JWT with its role's subjects, signed by the
// deployment's account (Authority).
const (
	RoleEmitter = "emitter" // sends commands: publish intake only
	RoleIngest  = "ingest"  // consumes intake, files rejections, answers emitters
	RoleRelay   = "relay"   // publishes committed events to the compartment streams
	RoleLedger  = "ledger"  // publishes checkpoints
	RoleService = "service" // a caseledger process that reads the record, not NATS (projections, the API)
	RoleOps     = "ops"     // stream and consumer state, checkpoints: no payload
	// Event readers, one per compartment they may read: each also reads the
	// shared compartment and the envelopes of sealed entries.
	RoleReaderPolice     = "reader-police"
	RoleReaderSocialWork = "reader-social_work"
	RoleReaderShared     = "reader-shared"
	RoleAll              = "all" // a single node's own process, in memory only
)

// Roles lists every role an identity can be issued for.
var Roles = []string{RoleEmitter, RoleIngest, RoleRelay, RoleLedger, RoleService, RoleOps, RoleReaderPolice, RoleReaderSocialWork, RoleReaderShared}

// InboxPrefix is the inbox prefix of an identity: it may subscribe to its
// own inboxes only, so that no identity reads the replies (stream reads,
// consumer deliveries) meant for another. Clients set it with
// nats.CustomInboxPrefix, the stock nats CLI with --inbox-prefix.
func InboxPrefix(name string) string { return "_INBOX." + name }

// IsInbox reports whether a subject is an inbox (_INBOX.…, one literal
// subject): the only kind of address ingest answers a command on.
func IsInbox(subject string) bool {
	rest, ok := strings.CutPrefix(subject, "_INBOX.")
	return ok && rest != "" && len(subject) <= 256 && !strings.ContainsAny(subject, " \t\r\n*>") &&
		!strings.Contains(subject, "..") && !strings.HasSuffix(subject, ".")
}

// readerStreams are the event streams whose subjects each reader role follows.
var readerStreams = map[string][]domain.Compartment{
	RoleReaderPolice:     {domain.CompartmentPolice, domain.CompartmentShared, domain.CompartmentSealed},
	RoleReaderSocialWork: {domain.CompartmentSocialWork, domain.CompartmentShared, domain.CompartmentSealed},
	RoleReaderShared:     {domain.CompartmentShared, domain.CompartmentSealed},
}

// ReaderRoleOf returns the reader role that may read a compartment's
// stream and nothing wider ("" for sealed: every reader gets its
// envelopes).
func ReaderRoleOf(c domain.Compartment) string {
	switch c {
	case domain.CompartmentPolice:
		return RoleReaderPolice
	case domain.CompartmentSocialWork:
		return RoleReaderSocialWork
	case domain.CompartmentShared:
		return RoleReaderShared
	}
	return ""
}

// consumerAPI are the JetStream API subjects that create, inspect, delete
// and pull from consumers of one stream, spelled with the stream in its
// fixed position so that no wildcard reaches another stream.
func consumerAPI(stream string) []string {
	return []string{
		"$JS.API.CONSUMER.CREATE." + stream, "$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".>", "$JS.API.CONSUMER.DELETE." + stream + ".>",
		"$JS.API.CONSUMER.NAMES." + stream, "$JS.API.CONSUMER.LIST." + stream,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".>",
		"$JS.ACK." + stream + ".>", "$JS.FC." + stream + ".>",
	}
}

// Permissions are the subjects of an identity of a role named name. Every
// identity may receive replies on its own inboxes only (InboxPrefix);
// JetStream's API is open to the roles that use streams, each for its
// streams alone.
func Permissions(role, name string) (*server.Permissions, error) {
	inbox := InboxPrefix(name) + ".>"
	allow := func(pub, sub []string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: append([]string{inbox}, sub...)},
		}
	}
	// The writing roles make sure caseledger's streams exist, and may touch
	// no other stream.
	var manage []string
	for _, op := range []string{"CREATE", "UPDATE", "INFO"} {
		for _, st := range Streams() {
			manage = append(manage, "$JS.API.STREAM."+op+"."+st)
		}
	}
	// Whoever reads checkpoints may also get them from their stream.
	checkpoints := []string{"$JS.API.STREAM.MSG.GET." + CheckpointsStream, "$JS.API.DIRECT.GET." + CheckpointsStream + ".>"}
	switch role {
	case RoleEmitter:
		return allow([]string{IntakePrefix + ">"}, nil), nil
	case RoleIngest:
		// Outcomes go to the inbox an emitter named (Caseledger-Reply-To).
		// It reads and removes INTAKE messages it acknowledged that a
		// storage fault left behind (Service.Reconcile).
		pub := slices.Concat([]string{"$JS.API.INFO", RejectedPrefix + ">", "_INBOX.>", "$JS.API.STREAM.MSG.GET." + IntakeStream, "$JS.API.STREAM.MSG.DELETE." + IntakeStream}, manage, consumerAPI(IntakeStream))
		return allow(pub, nil), nil
	case RoleRelay:
		// The relay's checkpoint is the last message of the event streams.
		pub := []string{"$JS.API.INFO", EventsPrefix + ">"}
		for _, c := range EventCompartments {
			pub = append(pub, "$JS.API.STREAM.MSG.GET."+EventStream(c))
		}
		return allow(slices.Concat(pub, manage), nil), nil
	case RoleLedger:
		return allow([]string{CheckpointsSubject, "$JS.API.INFO", "$JS.API.STREAM.INFO." + CheckpointsStream}, nil), nil
	case RoleService:
		return allow([]string{"$JS.API.INFO"}, nil), nil
	case RoleOps:
		pub := []string{"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"}
		for _, st := range Streams() {
			pub = append(pub, "$JS.API.STREAM.INFO."+st, "$JS.API.CONSUMER.INFO."+st+".>", "$JS.API.CONSUMER.NAMES."+st, "$JS.API.CONSUMER.LIST."+st)
		}
		return allow(append(pub, checkpoints...), []string{CheckpointsSubject}), nil
	case RoleReaderPolice, RoleReaderSocialWork, RoleReaderShared:
		// A reader follows its compartments live, by core subscription, and
		// publishes nothing at all. Every request's answer goes to the reply
		// subject its requester names, which no permission covers: a stream
		// get, a pull, a consumer's delivery or even a stream info with a
		// subject filter could be answered onto a subject another stream
		// captures, for other identities to read there. The history of a
		// case is read through the API, judged and recorded.
		sub := []string{CheckpointsSubject}
		for _, c := range readerStreams[role] {
			sub = append(sub, EventsPrefix+string(c)+".>")
		}
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: append([]string{inbox}, sub...)},
		}, nil
	case RoleAll:
		return nil, nil // no restriction
	}
	return nil, fmt.Errorf("natsbus: role %q is not one of %s", role, strings.Join(Roles, ", "))
}

// userPermissions is Permissions in a user JWT's terms.
func userPermissions(role, name string) (jwt.Permissions, error) {
	p, err := Permissions(role, name)
	if err != nil || p == nil {
		return jwt.Permissions{}, err
	}
	return jwt.Permissions{Pub: jwt.Permission{Allow: p.Publish.Allow, Deny: p.Publish.Deny}, Sub: jwt.Permission{Allow: p.Subscribe.Allow}}, nil
}

// secure applies TLS and the authority's identities to the embedded
// server's options, and returns the connect option of the process's own
// identity (role all, issued in memory for this run).
func secure(opts *server.Options, c EmbeddedConfig) ([]nats.Option, error) {
	if c.TLSCert != "" || c.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("natsbus: TLS certificate: %w", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		opts.TLS = true
	}
	if c.Authority == nil {
		return nil, nil
	}
	if err := c.Authority.configure(opts); err != nil {
		return nil, err
	}
	return c.Authority.selfOptions()
}

// CredsOptions are the connect options of an identity's creds file: the
// credentials, and the inbox prefix its permissions allow. A file that is
// not a creds file is named in the error, its content never.
func CredsOptions(path string) ([]nats.Option, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("natsbus: creds file: %w", err)
	}
	token, err := jwt.ParseDecoratedJWT(raw)
	if err != nil {
		return nil, fmt.Errorf("natsbus: creds file %s holds no user JWT", path)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("natsbus: creds file %s: the user JWT does not decode: %v", path, err)
	}
	if _, err := jwt.ParseDecoratedNKey(raw); err != nil {
		return nil, fmt.Errorf("natsbus: creds file %s holds no NKey seed", path)
	}
	opts := []nats.Option{nats.UserCredentials(path)}
	if uc.Name != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(uc.Name)))
	}
	return opts, nil
}

// ClientOptions are the connect options of an identity: its creds file
// and, for a server with TLS, the CA that signed its certificate. Every
// file that cannot be used is named.
func ClientOptions(credsFile, caFile string) ([]nats.Option, error) {
	var opts []nats.Option
	var errs []error
	if credsFile != "" {
		o, err := CredsOptions(credsFile)
		if err != nil {
			errs = append(errs, err)
		}
		opts = append(opts, o...)
	}
	if caFile != "" {
		if _, err := os.Stat(caFile); err != nil {
			errs = append(errs, fmt.Errorf("natsbus: CA file: %w", err))
		} else {
			opts = append(opts, nats.RootCAs(caFile))
		}
	}
	return opts, errors.Join(errs...)
}
