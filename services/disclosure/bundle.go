// Package disclosure writes a case's disclosure bundle: the exact stored
// bytes of its events, their chain, inclusion proofs in the signed Merkle
// log up to a signed checkpoint, the checkpoint and the public key, the
// case's access log, and a report (HTML and PDF) a court can read. The
// bundle is checked offline by cmd/caseverify, which repeats the formats
// below with the standard library and golang.org/x/mod only.
//
// Compartments apply: social-work and sealed entries, and entries with
// redacted fields, are left out (their leaf, which holds no personal data,
// stays, so the chain and the proofs still check) unless the export names a
// production order recorded on the case; the bundle lists what was
// withheld and why.
//
// It reads the record and never writes to it: recording who exported what
// is the caller's part (the API records the access first). It never
// re-encodes a stored event (the chain is over the exact stored bytes) and
// never writes into a directory that is not empty. A format change here is
// a change to cmd/caseverify too, which must still check every bundle ever
// handed out.
package disclosure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
)

// Format names the bundle layout; caseverify refuses another. Version 2
// adds the seal; caseverify still reads version 1, saying what it leaves
// unbound.
const Format = "caseledger-disclosure/v2"

// SealFile is the bundle's seal: a note signed with the ledger's key that
// lists the SHA-256 of the manifest and of each report. The manifest lists
// every other file, so with the seal every file of the bundle is signed.
const SealFile = "seal.note"

// SealHeader is the seal's first line. A checkpoint's second line is a
// tree size, so a seal can never be read as a checkpoint, nor one as a
// seal.
const SealHeader = "caseledger-disclosure-seal/v1"

// Seal signs the list of files (name → content) of case caseID as a note:
//
//	caseledger-disclosure-seal/v1
//	case <uuid>
//	<sha256 hex> <name>        (one line a file, by name)
func Seal(signer note.Signer, caseID uuid.UUID, files map[string][]byte) ([]byte, error) {
	if signer == nil {
		return nil, ErrNoSigner
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\ncase %s\n", SealHeader, caseID)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(&b, "%s %s\n", sum(files[name]), name)
	}
	return note.Sign(&note.Note{Text: b.String()}, signer)
}

// Manifest is manifest.json: everything caseverify needs besides the files
// it names. Its SHA-256 is the bundle's.
type Manifest struct {
	Format     string    `json:"format"`
	CaseID     string    `json:"case_id"`
	Stream     string    `json:"stream"`
	ExportedAt time.Time `json:"exported_at"`
	ExportedBy string    `json:"exported_by"`
	OrderID    string    `json:"order_id,omitempty"`
	Scope      string    `json:"scope"`
	// The log: its name, public key, the checkpoint the inclusion proofs
	// are against, and optionally a newer one with the consistency proof.
	Origin            string   `json:"origin"`
	PublicKey         string   `json:"public_key"`
	CheckpointFile    string   `json:"checkpoint_file"`
	NewerFile         string   `json:"newer_checkpoint_file,omitempty"`
	Consistency       []string `json:"consistency_proof,omitempty"` // hex hashes
	Events            []Event  `json:"events"`
	AccessLogFile     string   `json:"access_log_file"`
	Files             []File   `json:"files"` // every file but the manifest, the reports and the seal
	VersionsAtExport  int64    `json:"versions_at_export"`
	WithheldCount     int      `json:"withheld"`
	CheckpointCovered int64    `json:"checkpoint_size"`
}

// Event is one version of the case: with its stored bytes, or withheld
// with its leaf fields only.
type Event struct {
	Version      int64    `json:"version"`
	EventID      string   `json:"event_id"`
	Type         string   `json:"type"`
	Position     string   `json:"position"`
	PrevHash     string   `json:"prev_hash"`
	Hash         string   `json:"hash"`
	LeafIndex    int64    `json:"leaf_index"`
	Inclusion    []string `json:"inclusion_proof"` // hex hashes
	Compartment  string   `json:"compartment"`
	DataFile     string   `json:"data_file,omitempty"`
	MetadataFile string   `json:"metadata_file,omitempty"`
	// A withheld event carries the leaf fields its bytes would give, and
	// the reason it is withheld.
	Withheld   string `json:"withheld,omitempty"`
	RecordedAt string `json:"recorded_at,omitempty"`
	ActorID    string `json:"actor_id,omitempty"`
}

// File is a file of the bundle and its SHA-256.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
