package intake

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/nats-io/nats.go"
)

// Signed commands authenticate the emitting system. JetStream keeps no trace
// of who published a stored message, so an emitter signs each command with
// its Ed25519 key: the signature covers the subject and the exact body, and
// travels in two headers. Ingest checks it against the registry of emitters'
// public keys and requires the command's source_system and the actor's
// agency to be among those the emitter is registered for.
const (
	HeaderEmitter   = "Caseledger-Emitter"
	HeaderSignature = "Caseledger-Signature"
	signingTag      = "caseledger/intake/v1\x00"
)

// ErrUnauthenticated is returned by Registry.Verify for a command without a
// valid signature of a registered emitter.
var ErrUnauthenticated = errors.New("intake: command not signed by a registered emitter")

// Signer signs commands for one emitter.
type Signer struct {
	Emitter string
	Key     ed25519.PrivateKey
}

func signed(subject string, body []byte) []byte {
	msg := make([]byte, 0, len(signingTag)+len(subject)+1+len(body))
	msg = append(msg, signingTag...)
	msg = append(msg, subject...)
	msg = append(msg, 0)
	return append(msg, body...)
}

// sign sets the emitter and signature headers of m.
func (s *Signer) sign(m *nats.Msg) {
	m.Header.Set(HeaderEmitter, s.Emitter)
	m.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, signed(m.Subject, m.Data))))
}

var emitterID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Registry holds the emitters allowed to send commands and their keys.
type Registry struct {
	emitters map[string]*Emitter
}

// Emitter is a registered emitting system: its key, and what its commands
// may claim.
type Emitter struct {
	Name string
	key  ed25519.PublicKey
	// SourceSystems and Agencies are what the emitter may act as; "*"
	// stands for any.
	SourceSystems, Agencies []string
}

// Allows reports whether the emitter may send a command from a source
// system for an actor of an agency; if not, it names the field at fault.
func (e *Emitter) Allows(sourceSystem, agency string) (field string, ok bool) {
	if !anyOf(e.SourceSystems, sourceSystem) {
		return "source_system", false
	}
	if !anyOf(e.Agencies, agency) {
		return "actor.agency", false
	}
	return "", true
}

func anyOf(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

// RegistryEntry is one emitter in a registry file.
type RegistryEntry struct {
	Emitter   string `json:"emitter"`
	PublicKey string `json:"public_key"` // base64 Ed25519 public key
	// SourceSystems are the source_system values the emitter may send
	// (default: its own name); Agencies the actors' agencies it may act
	// for (required; ["*"] for any).
	SourceSystems []string `json:"source_systems,omitempty"`
	Agencies      []string `json:"agencies"`
}

// LoadRegistry reads a JSON list of RegistryEntry. Every problem is listed.
func LoadRegistry(path string) (*Registry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("intake: emitters file: %w", err)
	}
	var entries []RegistryEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("intake: emitters file %s is not a JSON list of {emitter, public_key}: %w", path, err)
	}
	r := &Registry{emitters: map[string]*Emitter{}}
	var errs []error
	for i, e := range entries {
		k, err := base64.StdEncoding.DecodeString(e.PublicKey)
		switch {
		case !emitterID.MatchString(e.Emitter):
			errs = append(errs, fmt.Errorf("entry %d: emitter must be 1 to 64 lower-case letters, digits, dots, dashes or underscores", i))
		case err != nil || len(k) != ed25519.PublicKeySize:
			errs = append(errs, fmt.Errorf("entry %d (%s): public_key is not a base64 Ed25519 public key", i, e.Emitter))
		case r.emitters[e.Emitter] != nil:
			errs = append(errs, fmt.Errorf("entry %d: emitter %s listed twice", i, e.Emitter))
		case len(e.Agencies) == 0:
			errs = append(errs, fmt.Errorf("entry %d (%s): agencies must list the agencies it may act for (or [\"*\"])", i, e.Emitter))
		default:
			sources := e.SourceSystems
			if len(sources) == 0 {
				sources = []string{e.Emitter}
			}
			r.emitters[e.Emitter] = &Emitter{Name: e.Emitter, key: k, SourceSystems: sources, Agencies: e.Agencies}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("intake: emitters file %s: %w", path, errors.Join(errs...))
	}
	return r, nil
}

// Verify returns the emitter that signed a message, or ErrUnauthenticated.
func (r *Registry) Verify(subject string, body []byte, h nats.Header) (*Emitter, error) {
	e := r.emitters[h.Get(HeaderEmitter)]
	if e == nil {
		return nil, fmt.Errorf("%w: unknown or missing %s", ErrUnauthenticated, HeaderEmitter)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderSignature))
	if err != nil || !ed25519.Verify(e.key, signed(subject, body), sig) {
		return nil, fmt.Errorf("%w: bad %s", ErrUnauthenticated, HeaderSignature)
	}
	return e, nil
}

// Len is the number of registered emitters.
func (r *Registry) Len() int { return len(r.emitters) }

// NewKey returns a new emitter key pair, the private key base64-encoded for
// a key file and the registry entry for its public key, registered for its
// own name as source system and for the agencies given.
func NewKey(emitter string, agencies ...string) (privateB64 string, entry RegistryEntry, err error) {
	if !emitterID.MatchString(emitter) {
		return "", RegistryEntry{}, errors.New("intake: emitter must be 1 to 64 lower-case letters, digits, dots, dashes or underscores")
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", RegistryEntry{}, err
	}
	return base64.StdEncoding.EncodeToString(priv), RegistryEntry{Emitter: emitter, PublicKey: base64.StdEncoding.EncodeToString(pub), Agencies: agencies}, nil
}

// LoadSigner reads a private key file written from NewKey.
func LoadSigner(emitter, path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("intake: key file: %w", err)
	}
	k, err := base64.StdEncoding.DecodeString(string(trimSpace(b)))
	if err != nil || len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("intake: key file %s does not hold a base64 Ed25519 private key", path)
	}
	return &Signer{Emitter: emitter, Key: ed25519.PrivateKey(k)}, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
