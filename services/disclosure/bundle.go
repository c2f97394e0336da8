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
	"time"
)

// Format names the bundle layout; caseverify refuses another.
const Format = "caseledger-disclosure/v1"

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
	Files             []File   `json:"files"` // every file but the manifest and the reports
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
