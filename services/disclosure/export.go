package disclosure

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// Errors of an export that cannot be made.
var (
	ErrUnknownCase = errors.New("disclosure: no case with this id in the record")
	ErrNotCovered  = errors.New("disclosure: the case's last events are not covered by a signed checkpoint yet; wait for the next one (serve signs every --ledger-interval and at shutdown)")
	ErrOutExists   = errors.New("disclosure: the output directory exists and is not empty")
	// ErrNoSigner is returned when the export has the ledger's public key
	// only: a bundle is sealed with its signing key.
	ErrNoSigner = errors.New("disclosure: a bundle is sealed with the ledger's signing key, which this process does not hold (--ledger-key FILE, or KEYS_DIR/ledger/signing.key)")
	// ErrRefused is returned when the access policy refuses the exporter
	// the case (not an auditor, or the case not open to their agency); the
	// error says why.
	ErrRefused = errors.New("disclosure: export refused")
)

// Source is what an export reads: the record, the Merkle log rebuilt from
// it (caught up), and the key that checks the checkpoints.
type Source struct {
	Store eventstore.Reader
	Tree  *ledger.Log
	Keys  ledger.Keys
}

// Options say what to export, for whom, and where.
type Options struct {
	CaseID uuid.UUID
	// Reader is who exports: the access policy judges the bundle for them
	// (access.Export), and the manifest names them.
	Reader  domain.Actor
	OrderID uuid.UUID // opens social-work, sealed and redacted entries when it stands (access.Policy)
	Out     string    // the bundle's directory: created, or empty
	Now     time.Time
	// DataKeys, when set, gives the case's data key for the bundle's
	// keys.json: its recipient decrypts the personal values of what it
	// discloses (withheld entries' bytes are not in the bundle), and
	// caseverify checks each value's tag. An erased case's key is gone:
	// keys.json says so, and its values stay sealed.
	DataKeys DataKeys
}

// DataKeys gives a data key by subject (personal.Keys).
type DataKeys interface {
	DataKey(ctx context.Context, subject string) ([]byte, error)
}

// KeysFile holds the data keys of what a bundle discloses.
const KeysFile = "keys.json"

// BundleKeys is keys.json: data keys by subject, base64, and the subjects
// whose keys were destroyed (erased).
type BundleKeys struct {
	Format string            `json:"format"`
	Keys   map[string]string `json:"keys,omitempty"`
	Erased []string          `json:"erased,omitempty"`
	// ErasedNotes says, per erased subject, how it was erased ("erased
	// under rule R on D"), when the key store knows.
	ErasedNotes map[string]string `json:"erased_notes,omitempty"`
}

// BundleKeysFormat names keys.json's format.
const BundleKeysFormat = "caseledger-bundle-keys/v1"

// Result sums up an export.
type Result struct {
	Dir            string
	ManifestSHA256 string // the bundle's SHA-256
	Events         int
	Withheld       int
	Scope          string // what the bundle discloses and withholds, as its manifest says
	Checkpoint     ledger.Checkpoint
}

// Export writes the case's bundle.
func Export(ctx context.Context, src Source, opt Options) (Result, error) {
	state, recs, err := casefile.Load(ctx, src.Store, opt.CaseID)
	if err != nil {
		return Result{}, err
	}
	if len(recs) == 0 {
		return Result{}, ErrUnknownCase
	}
	pol := access.For(opt.Reader, access.Export, state, opt.OrderID)
	if why := pol.Denied(); why != "" {
		return Result{}, fmt.Errorf("%w: %s", ErrRefused, why)
	}
	scope := "police and shared entries; social-work and sealed entries withheld (no production order named)"
	if order, why := pol.Order(); order != uuid.Nil && why != "" {
		// An order that does not stand opens nothing: the bundle withholds
		// what it withholds without one, and says why.
		scope = fmt.Sprintf("police and shared entries; social-work and sealed entries withheld (production order %s not applied: %s)", order, why)
	} else if order != uuid.Nil {
		o := state.Orders[order]
		scope = fmt.Sprintf("every entry, under production order %s (%s, file %s, issued %s)", o.OrderID, o.Court, o.FileRef, o.IssuedAt.UTC().Format(time.DateOnly))
	}
	cps, err := ledger.ReadCheckpoints(ctx, src.Store, src.Keys)
	if err != nil {
		return Result{}, err
	}
	// The first checkpoint that covers every event of the case; the last
	// one, if newer, with the proof that the log only grew in between.
	var top int64
	idx := make([]int64, len(recs))
	for i, r := range recs {
		n, ok := src.Tree.Index(r.ID)
		if !ok {
			// Not in the log yet, so under no checkpoint either.
			return Result{}, fmt.Errorf("%w (version %d is not in the Merkle log yet)", ErrNotCovered, r.Version)
		}
		idx[i], top = n, max(top, n)
	}
	at := slices.IndexFunc(cps, func(c ledger.Stored) bool { return c.Size > top })
	if at < 0 {
		return Result{}, ErrNotCovered
	}
	// A witnessed checkpoint is worth more to a court than the first one:
	// the first covering checkpoint that the witnesses cosigned, if any.
	if w := slices.IndexFunc(cps[at:], func(c ledger.Stored) bool { return c.Cosigned }); w >= 0 {
		at += w
	}
	cp, latest := cps[at], cps[len(cps)-1]
	for _, c := range []ledger.Stored{cp, latest} {
		if root, err := src.Tree.TreeHash(c.Size); err != nil || root != c.Root {
			return Result{}, fmt.Errorf("disclosure: the record no longer gives checkpoint %d's root: %w", c.Size, ledger.ErrInconsistent)
		}
	}
	if err := canSeal(src.Keys); err != nil {
		return Result{}, err
	}
	if err := prepareOut(opt.Out); err != nil {
		return Result{}, err
	}
	m := Manifest{Format: Format, CaseID: opt.CaseID.String(), Stream: domain.StreamName(opt.CaseID), ExportedAt: opt.Now.UTC(), ExportedBy: opt.Reader.UserID,
		Scope: scope, Origin: cp.Origin, PublicKey: src.Keys.VerifierKey, CheckpointFile: "checkpoint.note", AccessLogFile: "access.json",
		VersionsAtExport: int64(len(recs)), CheckpointCovered: cp.Size}
	if pol.OrderStands() {
		m.OrderID = opt.OrderID.String()
	}
	w := &writer{dir: opt.Out}
	w.file("checkpoint.note", cp.Note)
	if latest.Size > cp.Size {
		proof, err := src.Tree.ProveTree(cp.Size, latest.Size)
		if err != nil {
			return Result{}, err
		}
		m.NewerFile, m.Consistency = "newer.note", hexes(proof)
		w.file("newer.note", latest.Note)
	}
	withheld := withholding(recs, state, pol)
	rep := report{Manifest: &m, State: state}
	var disclosed []string // the subjects of the values it discloses
	for i, r := range recs {
		ent := state.Entries[r.ID]
		proof, err := src.Tree.ProveRecord(idx[i], cp.Size)
		if err != nil {
			return Result{}, err
		}
		e := Event{Version: r.Version, EventID: r.ID.String(), Type: r.Type, Position: r.Position.String(), PrevHash: hex.EncodeToString(r.PrevHash[:]),
			Hash: hex.EncodeToString(r.Hash[:]), LeafIndex: idx[i], Inclusion: hexes(proof), Compartment: string(ent.Compartment)}
		e.Withheld = withheld[r.ID]
		if e.Withheld != "" {
			leaf := ledger.LeafOf(r)
			e.RecordedAt, e.ActorID = leaf.RecordedAt, leaf.ActorID
			m.WithheldCount++
		} else {
			e.DataFile, e.MetadataFile = fmt.Sprintf("events/%06d.data", r.Version), fmt.Sprintf("events/%06d.metadata", r.Version)
			w.file(e.DataFile, r.Data)
			for _, s := range personal.SubjectsIn(r.Data) {
				if !slices.Contains(disclosed, s) {
					disclosed = append(disclosed, s)
				}
			}
			w.file(e.MetadataFile, r.Metadata)
		}
		m.Events = append(m.Events, e)
		de, err := casefile.Decode(r)
		if err != nil {
			return Result{}, err
		}
		rep.Entries = append(rep.Entries, entryOf(de, r, e, state))
	}
	if opt.DataKeys != nil {
		// The keys of exactly the subjects whose values it discloses.
		bk := BundleKeys{Format: BundleKeysFormat}
		for _, subject := range disclosed {
			key, err := opt.DataKeys.DataKey(ctx, subject)
			switch {
			case err == nil:
				if bk.Keys == nil {
					bk.Keys = map[string]string{}
				}
				bk.Keys[subject] = base64.StdEncoding.EncodeToString(key)
			case errors.Is(err, personal.ErrErased):
				bk.Erased = append(bk.Erased, subject)
				var e *personal.ErasedError
				if errors.As(err, &e) && e.Note != "" {
					if bk.ErasedNotes == nil {
						bk.ErasedNotes = map[string]string{}
					}
					bk.ErasedNotes[subject] = e.Note
				}
			case errors.Is(err, personal.ErrNoKey):
				// Keyed on another node: the bundle carries no key, and
				// caseverify says which values stay sealed.
			default:
				return Result{}, fmt.Errorf("disclosure: a data key of the case: %w", err)
			}
		}
		if len(bk.Keys)+len(bk.Erased) > 0 {
			raw, _ := json.MarshalIndent(bk, "", "  ")
			w.file(KeysFile, raw)
		}
	}
	access, err := accessLog(ctx, src.Store, opt.CaseID, recs, opt.Now)
	if err != nil {
		return Result{}, err
	}
	raw, _ := json.MarshalIndent(access, "", "  ")
	w.file(m.AccessLogFile, raw)
	rep.Access = access
	if w.err != nil {
		return Result{}, w.err
	}
	m.Files = w.files
	raw, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Result{}, err
	}
	w.file("manifest.json", raw)
	rep.ManifestSHA256 = sum(raw)
	rep.Checks = selfCheck(recs, idx, cp, latest, m, src)
	rep.KeyFingerprint = fingerprint(src.Keys.VerifierKey)
	annotate(rep.Entries)
	html, err := rep.HTML()
	if err != nil {
		return Result{}, err
	}
	pdf := rep.PDF()
	w.file("report.html", html)
	w.file("report.pdf", pdf)
	if w.err != nil {
		return Result{}, w.err
	}
	// The seal binds what the manifest cannot list (itself and the reports,
	// which show its SHA-256), so that no file of the bundle is unsigned.
	seal, err := Seal(src.Keys.Signer, opt.CaseID, map[string][]byte{"manifest.json": raw, "report.html": html, "report.pdf": pdf})
	if err != nil {
		return Result{}, err
	}
	w.file(SealFile, seal)
	if w.err != nil {
		return Result{}, w.err
	}
	return Result{Dir: opt.Out, ManifestSHA256: rep.ManifestSHA256, Events: len(recs) - m.WithheldCount, Withheld: m.WithheldCount, Scope: m.Scope, Checkpoint: cp.Checkpoint}, nil
}

// Check early: nothing is written without the key to seal it.
func canSeal(k ledger.Keys) error {
	if k.Signer == nil {
		return ErrNoSigner
	}
	return nil
}

func prepareOut(dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return ErrOutExists
	}
	if err := os.MkdirAll(filepath.Join(dir, "events"), 0o700); err != nil {
		return fmt.Errorf("disclosure: %w", err)
	}
	return nil
}

// writer writes the bundle's files, keeping their hashes, and the first
// error.
type writer struct {
	dir   string
	files []File
	err   error
}

func (w *writer) file(name string, b []byte) {
	if w.err != nil {
		return
	}
	if w.err = os.WriteFile(filepath.Join(w.dir, name), b, 0o600); w.err != nil {
		return
	}
	if name != "manifest.json" && name != "report.html" && name != "report.pdf" && name != SealFile {
		w.files = append(w.files, File{Path: name, SHA256: sum(b)})
	}
}

func hexes(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

// withholding says which entries a bundle withholds and why, as the
// access policy judges them for an export: those in a compartment it does
// not open, those with redacted fields without an order that stands, and
// every correction, redaction or marking in error of a withheld entry. A
// redacted entry's reason carries the legal bases of its redactions.
func withholding(recs []eventstore.Record, state domain.State, pol access.Policy) map[uuid.UUID]string {
	bases := redactionsOf(recs)
	out := map[uuid.UUID]string{}
	for _, r := range recs {
		switch why := pol.ShowsEntry(r.ID); why {
		case "":
		case access.HiddenCompart:
			out[r.ID] = "compartment " + string(state.Entries[r.ID].Compartment) + ": needs a production order"
		case access.RedactedNoOrder:
			out[r.ID] = "redacted: " + cmp.Or(bases[r.ID], "no legal basis recorded")
		default:
			out[r.ID] = why
		}
	}
	return out
}

// redactionsOf maps each redacted entry to the legal bases of its
// redactions.
func redactionsOf(recs []eventstore.Record) map[uuid.UUID]string {
	out := map[uuid.UUID]string{}
	for _, r := range recs {
		if r.Type != "case.entry_redacted" {
			continue
		}
		e, err := casefile.Decode(r)
		if err != nil {
			continue
		}
		d := e.Data.(domain.EntryRedacted)
		if out[d.TargetEventID] != "" {
			out[d.TargetEventID] += "; "
		}
		out[d.TargetEventID] += d.LegalBasis
	}
	return out
}

// AccessEntry is one read of the case, from the access log.
type AccessEntry struct {
	EventID  string   `json:"event_id"`
	At       string   `json:"at"`
	UserID   string   `json:"user_id"`
	Role     string   `json:"role"`
	Agency   string   `json:"agency"`
	Purpose  string   `json:"purpose"`
	Sections []string `json:"sections"`
	Denied   bool     `json:"denied"`
	Reason   string   `json:"reason,omitempty"`
	OrderID  string   `json:"order_id,omitempty"`
}

// accessLog reads the case's access records from the daily access streams
// between its first recording and now.
func accessLog(ctx context.Context, st eventstore.Reader, caseID uuid.UUID, recs []eventstore.Record, now time.Time) ([]AccessEntry, error) {
	out := []AccessEntry{}
	first := recs[0].RecordedAt
	if e, err := casefile.Decode(recs[0]); err == nil && e.Meta.RecordedAt.Before(first) {
		first = e.Meta.RecordedAt
	}
	var streams []string
	if l, ok := eventstore.Find[eventstore.StreamLister](st); ok {
		// The days that have an access log, not every day since.
		var err error
		if streams, err = l.StreamsBetween(ctx, "access-"+first.UTC().Format(time.DateOnly), "access-"+now.UTC().Format(time.DateOnly)); err != nil {
			return nil, fmt.Errorf("disclosure: access log: %w", err)
		}
	} else {
		for day := first.UTC().Truncate(24 * time.Hour); !day.After(now); day = day.AddDate(0, 0, 1) {
			streams = append(streams, "access-"+day.Format(time.DateOnly))
		}
	}
	for _, stream := range streams {
		for from := int64(0); ; {
			page, err := st.ReadStream(ctx, stream, from, 1000)
			if err != nil {
				return nil, fmt.Errorf("disclosure: access log %s: %w", stream, err)
			}
			for _, r := range page {
				var m struct {
					SchemaVersion int `json:"schema_version"`
					domain.Meta
				}
				if err := json.Unmarshal(r.Metadata, &m); err != nil {
					return nil, fmt.Errorf("disclosure: access record %s: %w", r.ID, err)
				}
				d, err := domain.DecodeData(r.Type, m.SchemaVersion, r.Data)
				if err != nil {
					return nil, fmt.Errorf("disclosure: access record %s: %w", r.ID, err)
				}
				v, ok := d.(domain.RecordViewed)
				if !ok || v.CaseID != caseID {
					continue
				}
				a := AccessEntry{EventID: r.ID.String(), At: m.RecordedAt.UTC().Format(time.RFC3339Nano), UserID: m.Actor.UserID, Role: string(m.Actor.Role),
					Agency: m.Actor.Agency, Purpose: v.Purpose, Sections: v.Sections, Denied: v.Denied, Reason: v.Reason}
				if v.OrderID != uuid.Nil {
					a.OrderID = v.OrderID.String()
				}
				out = append(out, a)
			}
			if len(page) < 1000 {
				break
			}
			from = page[len(page)-1].Version + 1
		}
	}
	return out, nil
}
