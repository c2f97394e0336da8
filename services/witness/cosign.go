package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Cosignatures are C2SP tlog-cosignature v1 (Ed25519): a note signature
// whose key id is SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4] and whose
// signature is an 8-byte big-endian timestamp followed by the Ed25519
// signature of
//
//	cosignature/v1
//	time <timestamp>
//	<the checkpoint's note body>
//
// x/mod's note package signs and verifies them through the Signer and
// Verifier interfaces below.

// algCosignatureV1 is the vkey algorithm byte of Ed25519 cosignatures.
const algCosignatureV1 = 0x04

func keyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

func cosignedMessage(ts uint64, body []byte) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), body...)
}

// Cosigner is a witness's key: it implements note.Signer with cosignature
// v1 signatures.
type Cosigner struct {
	name string
	priv ed25519.PrivateKey
	id   uint32
	// Now is the clock of the timestamps (time.Now when nil).
	Now func() time.Time
}

var _ note.Signer = (*Cosigner)(nil)

// Name is the witness's name.
func (c *Cosigner) Name() string { return c.name }

// KeyHash is the cosignature key id.
func (c *Cosigner) KeyHash() uint32 { return c.id }

// Sign returns timestamp ‖ Ed25519 signature of the cosigned message.
func (c *Cosigner) Sign(body []byte) ([]byte, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := uint64(now().Unix())
	sig := ed25519.Sign(c.priv, cosignedMessage(ts, body))
	return append(binary.BigEndian.AppendUint64(nil, ts), sig...), nil
}

// VerifierKey is the witness's public key in the signed-note vkey form
// (name+hex key id+base64 of 0x04 ‖ public key), what a ledger's
// --witnesses file and caseverify's --witness take.
func (c *Cosigner) VerifierKey() string {
	pub := c.priv.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%08x+%s", c.name, c.id, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

// cosignatureVerifier checks cosignature v1 signatures of one witness.
type cosignatureVerifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func (v cosignatureVerifier) Name() string    { return v.name }
func (v cosignatureVerifier) KeyHash() uint32 { return v.id }
func (v cosignatureVerifier) Verify(body, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	return ts < 1<<63 && ed25519.Verify(v.pub, cosignedMessage(ts, body), sig[8:])
}

// ErrBadKey is returned for a witness key that is not a cosignature v1
// vkey.
var ErrBadKey = errors.New("witness: not a cosignature/v1 public key (name+keyid+base64 of 0x04 and 32 bytes)")

// NewVerifier reads a witness's public key (VerifierKey's form).
func NewVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(strings.TrimSpace(vkey), "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	id, err := strconv.ParseUint(hexID, 16, 32)
	raw, err2 := base64.StdEncoding.DecodeString(b64)
	if !ok1 || !ok2 || name == "" || err != nil || err2 != nil || len(hexID) != 8 || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, ErrBadKey
	}
	pub := ed25519.PublicKey(raw[1:])
	if keyID(name, pub) != uint32(id) {
		return nil, fmt.Errorf("%w: its key id does not match its name and key", ErrBadKey)
	}
	return cosignatureVerifier{name: name, id: uint32(id), pub: pub}, nil
}

// keyFile is a witness key on disk (mode 0600).
type keyFile struct {
	Name string `json:"name"`
	Seed string `json:"ed25519_seed"` // base64
}

// LoadOrCreateCosigner reads the witness key at path, or makes one named
// name there (mode 0600) when there is none.
func LoadOrCreateCosigner(path, name string) (*Cosigner, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if name == "" || strings.ContainsAny(name, "+ \n") {
			return nil, errors.New("witness: a witness name is required, without spaces or '+' (e.g. witness.example/w1)")
		}
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		raw, _ = json.Marshal(keyFile{Name: name, Seed: base64.StdEncoding.EncodeToString(seed)})
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("witness: key: %w", err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return nil, fmt.Errorf("witness: key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("witness: key: %w", err)
	}
	var k keyFile
	seed, err := []byte(nil), json.Unmarshal(raw, &k)
	if err == nil {
		seed, err = base64.StdEncoding.DecodeString(k.Seed)
	}
	if err != nil || len(seed) != ed25519.SeedSize || k.Name == "" {
		return nil, fmt.Errorf("witness: %s is not a witness key", path)
	}
	if name != "" && name != k.Name {
		return nil, fmt.Errorf("witness: %s is the key of witness %q, not %q", path, k.Name, name)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Cosigner{name: k.Name, priv: priv, id: keyID(k.Name, priv.Public().(ed25519.PublicKey))}, nil
}
