package natsbus

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// User is one NATS identity: an NKey public key (the seed stays with its
// holder; the server keeps no secret) and the role that sets what it may
// publish and subscribe to. Name is for logs and operators.
type User struct {
	Name string `json:"name"`
	NKey string `json:"nkey"`
	Role string `json:"role"`
}

// Roles a NATS identity can have.
const (
	RoleEmitter = "emitter" // sends commands: publish intake only
	RoleIngest  = "ingest"  // consumes intake, files rejections
	RoleRelay   = "relay"   // publishes committed events
	RoleLedger  = "ledger"  // publishes checkpoints
	RoleReader  = "reader"  // projection workers, the API, subscribers: read only
	RoleAll     = "all"     // a single node's own process
)

var natsRoles = []string{RoleEmitter, RoleIngest, RoleRelay, RoleLedger, RoleReader, RoleAll}

// Permissions are each role's subjects. Every role may receive replies on
// its own inboxes; JetStream's API is open to the roles that consume or
// publish to streams, and closed to emitters, whose publishes are acked
// on their inboxes.
func Permissions(role string) (*server.Permissions, error) {
	allow := func(pub, sub []string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: sub},
		}
	}
	inbox := "_INBOX.>"
	// The writing roles make sure caseledger's streams exist, and
	// may touch no other stream.
	var streams []string
	for _, op := range []string{"CREATE", "UPDATE", "INFO"} {
		for _, st := range []string{IntakeStream, CaseEventsStream, RejectedStream, CheckpointsStream} {
			streams = append(streams, "$JS.API.STREAM."+op+"."+st)
		}
	}
	// Consumers of one stream: create, info, delete, next message.
	consumers := func(stream string) []string {
		return []string{"$JS.API.CONSUMER.*." + stream, "$JS.API.CONSUMER.*." + stream + ".>", "$JS.API.CONSUMER.*.*." + stream + ".>"}
	}
	switch role {
	case RoleEmitter:
		return allow([]string{IntakePrefix + ">"}, []string{inbox}), nil
	case RoleIngest:
		pub := append(append([]string{"$JS.API.INFO", "$JS.ACK.INTAKE.>", RejectedPrefix + ">", inbox}, streams...), consumers(IntakeStream)...)
		return allow(pub, []string{inbox}), nil
	case RoleRelay:
		// The relay's checkpoint is the last message of CASE_EVENTS.
		pub := append([]string{"$JS.API.INFO", "$JS.API.STREAM.MSG.GET." + CaseEventsStream, EventsPrefix + ">", inbox}, streams...)
		return allow(pub, []string{inbox}), nil
	case RoleLedger:
		return allow([]string{"caseledger.ledger.checkpoints", "$JS.API.STREAM.INFO.>", "$JS.API.INFO", inbox}, []string{inbox}), nil
	case RoleReader:
		// Consumers on CASE_EVENTS only.
		pub := append([]string{"$JS.API.INFO", "$JS.API.STREAM.INFO." + CaseEventsStream, "$JS.ACK.CASE_EVENTS.>", inbox}, consumers(CaseEventsStream)...)
		return allow(pub, []string{inbox, EventsPrefix + ">", "caseledger.ledger.checkpoints"}), nil
	case RoleAll:
		return nil, nil // no restriction
	}
	return nil, fmt.Errorf("natsbus: role %q is not one of %s", role, strings.Join(natsRoles, ", "))
}

// LoadUsers reads a JSON list of users; every problem is named, with the
// entry's position, never a key.
func LoadUsers(path string) ([]User, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("natsbus: users: %w", err)
	}
	var users []User
	if err := json.Unmarshal(raw, &users); err != nil {
		return nil, fmt.Errorf("natsbus: users file %s is not a JSON list of {name, nkey, role}", path)
	}
	var errs []error
	seen := map[string]bool{}
	for i, u := range users {
		if !nkeys.IsValidPublicUserKey(u.NKey) {
			errs = append(errs, fmt.Errorf("natsbus: users file entry %d (%s): nkey is not a user public key (U…)", i+1, u.Name))
		}
		if !slices.Contains(natsRoles, u.Role) {
			errs = append(errs, fmt.Errorf("natsbus: users file entry %d (%s): role must be one of %s", i+1, u.Name, strings.Join(natsRoles, ", ")))
		}
		if seen[u.NKey] {
			errs = append(errs, fmt.Errorf("natsbus: users file entry %d (%s): the same nkey twice", i+1, u.Name))
		}
		seen[u.NKey] = true
	}
	if len(users) == 0 {
		errs = append(errs, fmt.Errorf("natsbus: users file %s lists no user", path))
	}
	return users, errors.Join(errs...)
}

// NewUserKey makes an NKey user pair: the seed for the holder, the public
// key for the server's users file.
func NewUserKey() (seed []byte, public string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	seed, err = kp.Seed()
	if err != nil {
		return nil, "", err
	}
	public, err = kp.PublicKey()
	return seed, public, err
}

// secure applies TLS and users to the embedded server's options, and
// returns the connect option of the process's own identity (role all,
// generated for this run).
func secure(opts *server.Options, c EmbeddedConfig) (nats.Option, error) {
	if c.TLSCert != "" || c.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("natsbus: TLS certificate: %w", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		opts.TLS = true
	}
	if len(c.Users) == 0 {
		return nil, nil
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	self, _ := kp.PublicKey()
	users := append([]User{{Name: "caseledger-internal", NKey: self, Role: RoleAll}}, c.Users...)
	for _, u := range users {
		perms, err := Permissions(u.Role)
		if err != nil {
			return nil, err
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.NKey, Permissions: perms})
	}
	return nats.Nkey(self, kp.Sign), nil
}

// ClientOptions are the connect options of a NATS identity: an NKey seed
// file and, for a server with TLS, the CA that signed its certificate. A
// file that cannot be used is an error naming the flag's file.
func ClientOptions(seedFile, caFile string) ([]nats.Option, error) {
	var opts []nats.Option
	var errs []error
	if seedFile != "" {
		opt, err := nats.NkeyOptionFromSeed(seedFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("natsbus: NKey seed file %s: %w", seedFile, err))
		} else {
			opts = append(opts, opt)
		}
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
