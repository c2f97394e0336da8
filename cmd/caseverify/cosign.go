package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Witness cosignatures are C2SP tlog-cosignature v1 (Ed25519): the key id
// is SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4], the signature an 8-byte
// big-endian timestamp and the Ed25519 signature of "cosignature/v1\ntime
// <timestamp>\n" followed by the checkpoint's body. This is the whole of
// it, so that caseverify stays on the standard library and x/mod.

type cosigVerifier struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func (v cosigVerifier) Name() string    { return v.name }
func (v cosigVerifier) KeyHash() uint32 { return v.id }
func (v cosigVerifier) Verify(body, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig[:8])
	msg := append([]byte("cosignature/v1\ntime "+strconv.FormatUint(ts, 10)+"\n"), body...)
	return ts < 1<<63 && ed25519.Verify(v.pub, msg, sig[8:])
}

// readWitnessKey reads a witness's public key file (name+keyid+base64 of
// 0x04 and the Ed25519 key).
func readWitnessKey(path string) (note.Verifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name, rest, ok1 := strings.Cut(strings.TrimSpace(string(raw)), "+")
	hexID, b64, ok2 := strings.Cut(rest, "+")
	id, err := strconv.ParseUint(hexID, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(b64)
	if !ok1 || !ok2 || err != nil || err2 != nil || len(hexID) != 8 || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		return nil, errors.New("not a witness cosignature/v1 public key (name+keyid+base64)")
	}
	pub := ed25519.PublicKey(key[1:])
	h := sha256.Sum256(append([]byte(name+"\n\x04"), pub...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(id) {
		return nil, errors.New("its key id does not match its name and key")
	}
	return cosigVerifier{name: name, id: uint32(id), pub: pub}, nil
}

// countCosignatures returns which of the witnesses validly cosigned the
// signed checkpoint (signatures of other keys are ignored).
func countCosignatures(signed []byte, ledgerKey note.Verifier, witnesses []note.Verifier) []string {
	var out []string
	for _, w := range witnesses {
		n, err := note.Open(signed, note.VerifierList(ledgerKey, w))
		if err != nil {
			continue
		}
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				out = append(out, w.Name())
				break
			}
		}
	}
	return out
}
