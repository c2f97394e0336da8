package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Personal values are stored encrypted (caseledger's services/personal):
//
//	cl:enc1:<subject>:<base64url(nonce ‖ ciphertext ‖ tag)>
//
// under AES-256-GCM with the subject as additional data. A bundle carries
// in keys.json (listed in the sealed manifest) the data keys of the case it
// discloses; caseverify opens every encrypted value of every disclosed
// event with them, so a value that was altered fails its tag, and with
// --decrypt writes the events' data in clear. A case erased before the
// export has no key: its values stay sealed, and keys.json says erased.

const encryptedPrefix = "cl:enc1:"

type bundleKeys struct {
	Format      string            `json:"format"`
	Keys        map[string]string `json:"keys"`
	Erased      []string          `json:"erased"`
	ErasedNotes map[string]string `json:"erased_notes"`
}

// checkPersonal opens the disclosed events' encrypted values and writes
// them in clear under out when out is set.
func checkPersonal(b bundle, m manifest, out string, v *verdict) {
	listed := false
	for _, f := range m.Files {
		listed = listed || f.Path == "keys.json"
	}
	keys := map[string]cipher.AEAD{}
	var erased []string
	var notes map[string]string
	if listed {
		raw, err := b.read("keys.json")
		var bk bundleKeys
		if err == nil {
			err = json.Unmarshal(raw, &bk)
		}
		if err != nil {
			v.fail("keys.json cannot be read: %v", err)
			return
		}
		for subject, k := range bk.Keys {
			key, err := base64.StdEncoding.DecodeString(k)
			if err != nil || len(key) != 32 {
				v.fail("keys.json: the key of %s is not 32 bytes of base64", subject)
				return
			}
			block, _ := aes.NewCipher(key)
			gcm, _ := cipher.NewGCM(block)
			keys[subject] = gcm
		}
		erased, notes = bk.Erased, bk.ErasedNotes
	}
	opened, sealed, bad := 0, 0, 0
	for _, e := range m.Events {
		if e.DataFile == "" {
			continue
		}
		raw, err := b.read(e.DataFile)
		if err != nil {
			continue // reported by the file checks
		}
		var doc any
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		doc = walkStrings(doc, func(s string) string {
			if !strings.HasPrefix(s, encryptedPrefix) {
				return s
			}
			subject, b64, ok := strings.Cut(strings.TrimPrefix(s, encryptedPrefix), ":")
			gcm, have := keys[subject]
			if !ok || !have {
				sealed++
				if slices.Contains(erased, subject) {
					if n := notes[subject]; n != "" {
						return "[" + n + "]"
					}
					return "[erased]"
				}
				return "[sealed]"
			}
			ct, err := base64.RawURLEncoding.DecodeString(b64)
			n := gcm.NonceSize()
			if err != nil || len(ct) < n {
				bad++
				v.fail("version %d: an encrypted value is malformed", e.Version)
				return "[altered]"
			}
			plain, err := gcm.Open(nil, ct[:n], ct[n:], []byte(subject))
			if err != nil {
				bad++
				v.fail("version %d: an encrypted value does not open under the bundle's key: it was altered", e.Version)
				return "[altered]"
			}
			opened++
			return string(plain)
		})
		if out != "" {
			clear, _ := json.MarshalIndent(doc, "", "  ")
			if err := os.WriteFile(filepath.Join(out, fmt.Sprintf("%06d.json", e.Version)), clear, 0o600); err != nil {
				v.fail("--decrypt: %v", err)
				return
			}
		}
	}
	switch {
	case bad > 0:
	case opened > 0 && sealed == 0:
		v.pass("%d personal values open under the bundle's data key: each is the value recorded (AES-GCM tag)", opened)
	case sealed > 0 && len(erased) > 0:
		v.note("%d personal values stay sealed: personal data of the case was erased before the export (keys.json: erased %s); %d opened", sealed, strings.Join(erased, ", "), opened)
	case sealed > 0:
		v.note("%d personal values stay sealed: the bundle carries no key for them; %d opened", sealed, opened)
	}
}

func walkStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = walkStrings(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = walkStrings(x[k], f)
		}
	}
	return v
}
