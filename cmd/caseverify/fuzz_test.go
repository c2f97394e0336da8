package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMalformedManifests: manifests that are well-formed JSON but wrong in
// every way a hand or a bug could make them give a failing verdict, never
// a panic.
func TestMalformedManifests(t *testing.T) {
	fx := setup(t)
	zero := strings.Repeat("0", 64)
	for name, manifest := range map[string]string{
		"bad proof hash":      `{"format":"caseledger-disclosure/v1","events":[{"version":0,"hash":"` + zero + `","prev_hash":"` + zero + `","inclusion_proof":["zz"]}]}`,
		"negative leaf":       `{"format":"caseledger-disclosure/v1","events":[{"version":0,"leaf_index":-1,"hash":"` + zero + `","prev_hash":"` + zero + `"}]}`,
		"huge leaf":           `{"format":"caseledger-disclosure/v1","checkpoint_file":"checkpoint.note","events":[{"version":0,"leaf_index":9223372036854775807,"withheld":"x","hash":"` + zero + `","prev_hash":"` + zero + `"}]}`,
		"path escape":         `{"format":"caseledger-disclosure/v1","files":[{"path":"../../etc/passwd"}],"events":[{}]}`,
		"checkpoint escape":   `{"format":"caseledger-disclosure/v1","checkpoint_file":"../../../etc/hostname","events":[{}]}`,
		"data file escape":    `{"format":"caseledger-disclosure/v1","checkpoint_file":"checkpoint.note","events":[{"version":0,"hash":"` + zero + `","prev_hash":"` + zero + `","data_file":"../manifest.json","metadata_file":"../manifest.json","event_id":"x"}]}`,
		"wrong types":         `{"format":"caseledger-disclosure/v1","events":"none"}`,
		"null events":         `{"format":"caseledger-disclosure/v1","events":[null]}`,
		"negative size proof": `{"format":"caseledger-disclosure/v1","newer_checkpoint_file":"checkpoint.note","consistency_proof":["` + zero + `"],"checkpoint_file":"checkpoint.note","events":[{}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			b, _ := os.ReadFile(filepath.Join(fx.bundle, "checkpoint.note"))
			os.WriteFile(filepath.Join(dir, "checkpoint.note"), b, 0o600)
			os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(manifest), 0o600)
			if code := run([]string{dir, "--pubkey", fx.pubkey}, io.Discard, io.Discard); code == 0 {
				t.Fatal("verified")
			}
		})
	}
}
