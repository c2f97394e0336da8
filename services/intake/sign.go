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
// public keys and requires the command's source_system to be the emitter
// that signed it.
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
	keys map[string]ed25519.PublicKey
}

// RegistryEntry is one emitter in a registry file.
type RegistryEntry struct {
	Emitter   string `json:"emitter"`
	PublicKey string `json:"public_key"` // base64 Ed25519 public key
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
	r := &Registry{keys: map[string]ed25519.PublicKey{}}
	var errs []error
	for i, e := range entries {
		k, err := base64.StdEncoding.DecodeString(e.PublicKey)
		switch {
		case !emitterID.MatchString(e.Emitter):
			errs = append(errs, fmt.Errorf("entry %d: emitter must be 1 to 64 lower-case letters, digits, dots, dashes or underscores", i))
		case err != nil || len(k) != ed25519.PublicKeySize:
			errs = append(errs, fmt.Errorf("entry %d (%s): public_key is not a base64 Ed25519 public key", i, e.Emitter))
		case r.keys[e.Emitter] != nil:
			errs = append(errs, fmt.Errorf("entry %d: emitter %s listed twice", i, e.Emitter))
		default:
			r.keys[e.Emitter] = k
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("intake: emitters file %s: %w", path, errors.Join(errs...))
	}
	return r, nil
}

// Verify returns the emitter that signed a message, or ErrUnauthenticated.
func (r *Registry) Verify(subject string, body []byte, h nats.Header) (string, error) {
	emitter := h.Get(HeaderEmitter)
	key := r.keys[emitter]
	if key == nil {
		return "", fmt.Errorf("%w: unknown or missing %s", ErrUnauthenticated, HeaderEmitter)
	}
	sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderSignature))
	if err != nil || !ed25519.Verify(key, signed(subject, body), sig) {
		return "", fmt.Errorf("%w: bad %s", ErrUnauthenticated, HeaderSignature)
	}
	return emitter, nil
}

// NewKey returns a new emitter key pair, the private key base64-encoded for
// a key file and the registry entry for its public key.
func NewKey(emitter string) (privateB64 string, entry RegistryEntry, err error) {
	if !emitterID.MatchString(emitter) {
		return "", RegistryEntry{}, errors.New("intake: emitter must be 1 to 64 lower-case letters, digits, dots, dashes or underscores")
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", RegistryEntry{}, err
	}
	return base64.StdEncoding.EncodeToString(priv), RegistryEntry{Emitter: emitter, PublicKey: base64.StdEncoding.EncodeToString(pub)}, nil
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
