package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the log's state as signed: its origin (the log's name,
// also the key's), its size and its root hash. Its text is the C2SP
// tlog-checkpoint body: origin, size and base64 root, one per line.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the note body that is signed.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// ParseCheckpoint reads a checkpoint body; errors say which line is wrong.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasSuffix(text, "\n") || len(lines) < 3 {
		return Checkpoint{}, errors.New("ledger: a checkpoint is three lines: origin, size, root hash")
	}
	c := Checkpoint{Origin: lines[0]}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		return Checkpoint{}, errors.New("ledger: the checkpoint's size line is not a count")
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, errors.New("ledger: the checkpoint's root line is not a base64 SHA-256 hash")
	}
	copy(c.Root[:], root)
	if c.Origin == "" {
		return Checkpoint{}, errors.New("ledger: the checkpoint names no origin")
	}
	return c, nil
}

// Keys sign checkpoints and check them.
type Keys struct {
	Signer      note.Signer
	Verifier    note.Verifier
	VerifierKey string // the public key in note's text form: name+hash+base64
}

// File names of the key pair in a ledger directory.
const (
	SigningKeyFile = "signing.key"
	PublicKeyFile  = "ledger.pub"
)

// LoadOrCreateKeys reads the key pair in dir, or generates one named origin
// on first start, the private key readable by its owner only.
func LoadOrCreateKeys(dir, origin string) (Keys, error) {
	path := filepath.Join(dir, SigningKeyFile)
	if _, err := os.Stat(path); err == nil {
		return LoadKeys(path)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: key for origin %q: %w (an origin is a name without spaces or '+')", origin, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	return LoadKeys(path)
}

// LoadKeys reads a private key file (note's PRIVATE+KEY+… form) and derives
// the public key from it. A key file others may read is refused.
func LoadKeys(path string) (Keys, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: signing key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Keys{}, fmt.Errorf("ledger: signing key %s is readable by others (mode %o): chmod 600 it", path, st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: signing key: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: %s is not a signing key (PRIVATE+KEY+name+hash+key)", path)
	}
	// PRIVATE+KEY+name+hash+base64(alg ‖ seed): the public key follows
	// from the seed.
	rest := skey
	for range 4 { // PRIVATE, KEY, name, hash; base64 may hold '+' itself
		_, rest, _ = strings.Cut(rest, "+")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return Keys{}, fmt.Errorf("ledger: %s is not an Ed25519 signing key", path)
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), pub)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: %w", err)
	}
	return Keys{Signer: signer, Verifier: verifier, VerifierKey: vkey}, nil
}

// Sign signs the checkpoint as a note.
func (k Keys) Sign(c Checkpoint) ([]byte, error) {
	if c.Origin != k.Signer.Name() {
		return nil, fmt.Errorf("ledger: checkpoint of origin %q, key of %q", c.Origin, k.Signer.Name())
	}
	return note.Sign(&note.Note{Text: c.Text()}, k.Signer)
}

// OpenCheckpoint checks a signed checkpoint against the public key and
// reads it.
func OpenCheckpoint(signed []byte, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: checkpoint signature: %w", err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != verifier.Name() {
		return Checkpoint{}, fmt.Errorf("ledger: checkpoint of origin %q signed by key %q", c.Origin, verifier.Name())
	}
	return c, nil
}

// LoadVerifier reads a public key file (note's name+hash+key form), for
// checking checkpoints without the signing key.
func LoadVerifier(path string) (Keys, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: public key: %w", err)
	}
	vkey := strings.TrimSpace(string(raw))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Keys{}, fmt.Errorf("ledger: %s is not a ledger public key (name+hash+key)", path)
	}
	return Keys{Verifier: v, VerifierKey: vkey}, nil
}
