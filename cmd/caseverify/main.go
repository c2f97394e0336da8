// Command caseverify checks a caseledger disclosure bundle offline, with
// nothing but the bundle and the ledger's public key, pinned beforehand:
//
//	caseverify BUNDLE_DIR --pubkey ledger.pub
//
// It checks the bundle's seal (a note signed with the ledger's key listing
// the SHA-256 of the manifest and the reports) and that no file of the
// bundle is unlisted, every file's SHA-256 against the manifest or the
// seal, the signed checkpoint against the key, each disclosed event's chain hash recomputed
// from its exact stored bytes, the chain from version 0 with no version
// missing or out of order, each event's leaf and its inclusion proof in the
// checkpoint's Merkle tree, and, when the bundle carries a newer
// checkpoint, that the log only grew in between. It prints a verdict and
// exits 0 only when every check passed; 1 when one failed; 2 when the
// bundle or the key cannot be read.
//
// It depends on the standard library and golang.org/x/mod only, and
// repeats caseledger's formats (the chain and leaf framing) here, so that it
// can be read and built apart from caseledger.
//
// It never imports a caseledger package, never uses the network, never
// writes into the bundle, and never takes the key from the bundle it
// checks: a bundle could carry the key it was forged with.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// The bundle's manifest, as caseledger writes it (format v1).
type manifest struct {
	Format            string   `json:"format"`
	CaseID            string   `json:"case_id"`
	Stream            string   `json:"stream"`
	Origin            string   `json:"origin"`
	PublicKey         string   `json:"public_key"`
	CheckpointFile    string   `json:"checkpoint_file"`
	NewerFile         string   `json:"newer_checkpoint_file"`
	Consistency       []string `json:"consistency_proof"`
	Events            []event  `json:"events"`
	Files             []file   `json:"files"`
	VersionsAtExport  int64    `json:"versions_at_export"`
	CheckpointCovered int64    `json:"checkpoint_size"`
	WithheldCount     int      `json:"withheld"`
}

type event struct {
	Version      int64    `json:"version"`
	EventID      string   `json:"event_id"`
	Type         string   `json:"type"`
	Position     string   `json:"position"`
	PrevHash     string   `json:"prev_hash"`
	Hash         string   `json:"hash"`
	LeafIndex    int64    `json:"leaf_index"`
	Inclusion    []string `json:"inclusion_proof"`
	Compartment  string   `json:"compartment"`
	DataFile     string   `json:"data_file"`
	MetadataFile string   `json:"metadata_file"`
	Withheld     string   `json:"withheld"`
	RecordedAt   string   `json:"recorded_at"`
	ActorID      string   `json:"actor_id"`
}

type file struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// format is the bundle layout this caseverify writes about; formatV1
// bundles (before the seal) are still read.
const (
	format   = "caseledger-disclosure/v2"
	formatV1 = "caseledger-disclosure/v1"
)

// bundle reads the bundle's files through an os.Root: nothing outside the
// directory, no symbolic link, nothing but regular files.
type bundle struct {
	dir  string
	root *os.Root
}

func (b bundle) read(name string) ([]byte, error) {
	if outside(name) {
		return nil, fmt.Errorf("%s is named outside the bundle", name)
	}
	name = filepath.FromSlash(name)
	fi, err := b.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return b.root.ReadFile(name)
}

func (b bundle) sha256(name string) (string, error) {
	raw, err := b.read(name)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:]), nil
}

// verdict collects the checks' outcomes.
type verdict struct {
	w        io.Writer
	failures []string
}

func (v *verdict) pass(format string, a ...any) { fmt.Fprintf(v.w, "  ok    "+format+"\n", a...) }
func (v *verdict) note(format string, a ...any) { fmt.Fprintf(v.w, "  note  "+format+"\n", a...) }
func (v *verdict) fail(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	v.failures = append(v.failures, msg)
	fmt.Fprintf(v.w, "  FAIL  %s\n", msg)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("caseverify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pubkey := fs.String("pubkey", "", "the ledger's public key file, pinned beforehand (caseledger ledger pubkey)")
	var witnessFiles multiFlag
	fs.Var(&witnessFiles, "witness", "a witness's public key file (repeatable): the checkpoint must carry the cosignatures of --quorum of them")
	quorum := fs.Int("quorum", 0, "how many of the --witness keys must have cosigned the checkpoint (default: all of them)")
	decrypt := fs.String("decrypt", "", "write each disclosed event's data, its personal values decrypted with the bundle's keys, into this directory (NNNNNN.json)")
	allowUnsealed := fs.Bool("allow-unsealed", false, "also check a format v1 bundle, made before bundles were sealed: its reports, scope and access log are bound by no signature")
	var dir string
	// The bundle directory may come before or after the flags.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if dir == "" && fs.NArg() == 1 {
		dir = fs.Arg(0)
	} else if fs.NArg() != 0 || dir == "" {
		fmt.Fprintln(stderr, "usage: caseverify BUNDLE_DIR --pubkey FILE")
		return 2
	}
	if *pubkey == "" {
		fmt.Fprintln(stderr, "caseverify: --pubkey FILE is required: a key taken from the bundle itself proves nothing")
		return 2
	}
	raw, err := os.ReadFile(*pubkey)
	if err != nil {
		fmt.Fprintf(stderr, "caseverify: public key: %v\n", err)
		return 2
	}
	vkey := strings.TrimSpace(string(raw))
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fmt.Fprintf(stderr, "caseverify: %s is not a ledger public key (name+hash+key): %v\n", *pubkey, err)
		return 2
	}
	var witnesses []note.Verifier
	seenWitness := map[string]bool{}
	for _, p := range witnessFiles {
		w, err := readWitnessKey(p)
		if err != nil {
			fmt.Fprintf(stderr, "caseverify: witness key %s: %v\n", p, err)
			return 2
		}
		// One witness counts once towards the quorum, however often its
		// key is given.
		if id := fmt.Sprintf("%s+%08x", w.Name(), w.KeyHash()); seenWitness[id] || seenWitness[w.Name()] {
			fmt.Fprintf(stderr, "caseverify: witness %s is given twice: each witness counts once\n", w.Name())
			return 2
		} else {
			seenWitness[id], seenWitness[w.Name()] = true, true
		}
		witnesses = append(witnesses, w)
	}
	if *quorum == 0 {
		*quorum = len(witnesses)
	}
	if *quorum < 0 || *quorum > len(witnesses) {
		fmt.Fprintf(stderr, "caseverify: --quorum must be from 1 to the number of --witness keys (%d)\n", len(witnesses))
		return 2
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		fmt.Fprintf(stdout, "NOT VERIFIED: the bundle directory cannot be opened: %v\n", err)
		return 2
	}
	defer root.Close()
	b := bundle{dir: dir, root: root}
	m, err := readManifest(b)
	if err != nil {
		fmt.Fprintf(stdout, "NOT VERIFIED: %v\n", err)
		return 2
	}
	if m.Format == formatV1 && !*allowUnsealed {
		// A sealed bundle stripped of its seal and relabelled v1 must not
		// pass as one: the old format is read only when asked for.
		fmt.Fprintf(stdout, "NOT VERIFIED: manifest.json is format %s, made before bundles were sealed: its reports, scope and access log are bound by no signature (check the rest with --allow-unsealed)\n", formatV1)
		return 1
	}
	fmt.Fprintf(stdout, "bundle %s: case %s, %d versions, %d withheld\n", dir, m.CaseID, len(m.Events), m.WithheldCount)
	v := &verdict{w: stdout}
	check(b, m, vkey, verifier, v)
	if *decrypt != "" {
		if err := os.MkdirAll(*decrypt, 0o700); err != nil {
			fmt.Fprintf(stderr, "caseverify: --decrypt: %v\n", err)
			return 2
		}
	}
	checkPersonal(b, m, *decrypt, v)
	if raw, err := b.read(filepath.Base(m.CheckpointFile)); err == nil {
		if len(witnesses) == 0 {
			v.note("the checkpoint's cosignatures were not checked (no --witness given): a rollback or fork by the ledger's key holder is not excluded")
		} else if got := countCosignatures(raw, verifier, witnesses); len(got) < *quorum {
			v.fail("the checkpoint carries %d valid cosignatures of the %d witnesses given, %d needed: it was not witnessed", len(got), len(witnesses), *quorum)
		} else {
			v.pass("the checkpoint is cosigned by %d of %d witnesses (%s), %d needed", len(got), len(witnesses), strings.Join(got, ", "), *quorum)
		}
	}
	if len(v.failures) > 0 {
		fmt.Fprintf(stdout, "NOT VERIFIED: %d check(s) failed; first: %s\n", len(v.failures), v.failures[0])
		return 1
	}
	sum, _ := b.sha256("manifest.json")
	withheld := 0
	for _, e := range m.Events {
		if e.Withheld != "" {
			withheld++
		}
	}
	fmt.Fprintf(stdout, "VERIFIED: case %s, versions 0 to %d (%d disclosed, %d withheld with their reasons in the manifest), proven in the log %s signed by key %s; bundle SHA-256 %s\n",
		m.CaseID, len(m.Events)-1, len(m.Events)-withheld, withheld, m.Origin, vkey, sum)
	if m.Format == formatV1 {
		fmt.Fprintln(stdout, "Not proven by a bundle: that the case had no version after the last one here (a Merkle log proves inclusion, not absence); and, in this format v1 bundle, the manifest's scope, order and access log, and the reports, which no signature covers.")
	} else {
		fmt.Fprintln(stdout, "Not proven by a bundle: that the case had no version after the last one here (a Merkle log proves inclusion, not absence); that the scope, the access log and the reports are true, only that the holder of the ledger's key sealed them as they are.")
	}
	return 0
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func readManifest(b bundle) (manifest, error) {
	var m manifest
	raw, err := b.read("manifest.json")
	if err != nil {
		return m, fmt.Errorf("the bundle has no readable manifest.json: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("manifest.json is malformed: %v", err)
	}
	if m.Format != format && m.Format != formatV1 {
		return m, fmt.Errorf("manifest.json is format %q, this caseverify reads %q and %q", m.Format, format, formatV1)
	}
	if len(m.Events) == 0 {
		return m, errors.New("manifest.json lists no event")
	}
	if m.Stream != "case-"+m.CaseID {
		return m, fmt.Errorf("manifest.json names case %q but stream %q", m.CaseID, m.Stream)
	}
	return m, nil
}

func check(b bundle, m manifest, vkey string, verifier note.Verifier, v *verdict) {
	if m.PublicKey != vkey {
		v.fail("the bundle names key %q, not the pinned key", m.PublicKey)
	}
	withheld := 0
	for _, e := range m.Events {
		if e.Withheld != "" {
			withheld++
		}
	}
	if withheld != m.WithheldCount {
		v.fail("the manifest says %d entries were withheld, its events mark %d", m.WithheldCount, withheld)
	}
	sealed := checkSeal(b, m, verifier, v)
	checkFiles(b, m, sealed, v)
	cp, ok := openCheckpoint(b, m.CheckpointFile, verifier, v)
	if !ok {
		return
	}
	if cp.origin != m.Origin || cp.size != m.CheckpointCovered {
		v.fail("the checkpoint is of log %q at %d leaves; the manifest says %q at %d", cp.origin, cp.size, m.Origin, m.CheckpointCovered)
	} else {
		v.pass("checkpoint signed by %s: %d leaves, root %s", verifier.Name(), cp.size, base64.StdEncoding.EncodeToString(cp.root[:]))
	}
	checkEvents(b, m, cp, v)
	if m.NewerFile != "" {
		newer, ok := openCheckpoint(b, m.NewerFile, verifier, v)
		if !ok {
			return
		}
		proof, err := hashes(m.Consistency)
		switch {
		case err != nil:
			v.fail("the consistency proof is malformed: %v", err)
		case newer.size < cp.size:
			v.fail("the newer checkpoint (%d leaves) is smaller than the checkpoint (%d)", newer.size, cp.size)
		default:
			if err := tlog.CheckTree(tlog.TreeProof(proof), newer.size, newer.root, cp.size, cp.root); err != nil {
				v.fail("the newer checkpoint (%d leaves) does not extend the checkpoint (%d leaves): the log forked or was rewritten (%v)", newer.size, cp.size, err)
			} else {
				v.pass("the newer checkpoint of %d leaves extends the checkpoint of %d (consistency proof)", newer.size, cp.size)
			}
		}
	}
}

// sealFile and sealHeader are the seal's name and first line (format v2).
const (
	sealFile   = "seal.note"
	sealHeader = "caseledger-disclosure-seal/v1"
)

// checkSeal checks that seal.note is signed with the pinned key, names
// this case, and lists the manifest and both reports with their SHA-256;
// it returns the files the seal lists. A format v1 bundle has no seal:
// what it leaves unbound is said, not failed.
func checkSeal(b bundle, m manifest, verifier note.Verifier, v *verdict) map[string]bool {
	listed := map[string]bool{}
	if m.Format == formatV1 {
		v.note("format v1 bundle: no seal, so the reports, the scope and the access log are bound by no signature")
		listed["report.html"], listed["report.pdf"] = true, true
		return listed
	}
	raw, err := b.read(sealFile)
	if err != nil {
		v.fail("%s is missing or unreadable: the bundle is not sealed (%v)", sealFile, err)
		return listed
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		v.fail("%s is not signed by the pinned key: %v", sealFile, err)
		return listed
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 2 || lines[0] != sealHeader || lines[1] != "case "+m.CaseID {
		v.fail("%s does not seal case %s in format %s", sealFile, m.CaseID, sealHeader)
		return listed
	}
	bad := 0
	for _, line := range lines[2:] {
		want, name, ok := strings.Cut(line, " ")
		if !ok || outside(name) {
			v.fail("%s has a malformed line", sealFile)
			bad++
			continue
		}
		listed[name] = true
		got, err := b.sha256(name)
		switch {
		case err != nil:
			v.fail("%s is sealed but missing or unreadable: %v", name, err)
			bad++
		case got != want:
			v.fail("%s was altered: its SHA-256 is %s, the seal says %s", name, got, want)
			bad++
		}
	}
	for _, must := range []string{"manifest.json", "report.html", "report.pdf"} {
		if !listed[must] {
			v.fail("%s does not seal %s", sealFile, must)
			bad++
		}
	}
	if bad == 0 {
		v.pass("seal signed by %s: the manifest and the reports match it", verifier.Name())
	}
	return listed
}

// checkFiles compares every file with the manifest's SHA-256, and looks
// for any file of the bundle that neither the manifest nor the seal lists.
func checkFiles(b bundle, m manifest, sealed map[string]bool, v *verdict) {
	listed := map[string]bool{"manifest.json": true, sealFile: true}
	for name := range sealed {
		listed[name] = true
	}
	bad := 0
	for _, f := range m.Files {
		listed[f.Path] = true
		sum, err := b.sha256(f.Path)
		if err != nil {
			v.fail("%s is missing or unreadable: %v", f.Path, err)
			bad++
		} else if sum != f.SHA256 {
			v.fail("%s was altered: its SHA-256 is %s, the manifest says %s", f.Path, sum, f.SHA256)
			bad++
		}
	}
	_ = fs.WalkDir(b.root.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// A part of the bundle that cannot be read cannot be vouched for.
			v.fail("%s cannot be read, so the bundle cannot be shown to hold nothing else: %v", path, err)
			bad++
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !listed[path] {
			v.fail("%s is in the bundle but neither its manifest nor its seal lists it", path)
			bad++
		}
		return nil
	})
	if bad == 0 {
		v.pass("%d files match the manifest's SHA-256, and the bundle holds no other", len(m.Files))
	}
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(b bundle, name string, verifier note.Verifier, v *verdict) (checkpoint, bool) {
	raw, err := b.read(filepath.Base(name))
	if err != nil {
		v.fail("checkpoint %s cannot be read: %v", name, err)
		return checkpoint{}, false
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		v.fail("checkpoint %s does not verify with the pinned key: %v", name, err)
		return checkpoint{}, false
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		v.fail("checkpoint %s is not origin, size and root", name)
		return checkpoint{}, false
	}
	size, err1 := strconv.ParseInt(lines[1], 10, 64)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	if err1 != nil || err2 != nil || size < 0 || len(root) != tlog.HashSize {
		v.fail("checkpoint %s has a malformed size or root", name)
		return checkpoint{}, false
	}
	c := checkpoint{origin: lines[0], size: size}
	copy(c.root[:], root)
	if c.origin != verifier.Name() {
		v.fail("checkpoint %s is of log %q, the key of %q", name, c.origin, verifier.Name())
		return checkpoint{}, false
	}
	return c, true
}

// checkEvents checks the chain from version 0, each event's bytes, leaf
// and inclusion, and that no version is missing or out of order.
func checkEvents(b bundle, m manifest, cp checkpoint, v *verdict) {
	var prev [32]byte
	lastLeaf := int64(-1)
	proven, fromBytes := 0, 0
	for i, e := range m.Events {
		where := fmt.Sprintf("version %d (event %s)", e.Version, e.EventID)
		if e.Version != int64(i) {
			v.fail("version %d is missing or out of order: the manifest's event %d is version %d", i, i, e.Version)
			return
		}
		hash, err1 := hex32(e.Hash)
		prevHash, err2 := hex32(e.PrevHash)
		if err1 != nil || err2 != nil {
			v.fail("%s: malformed hashes", where)
			return
		}
		if prevHash != prev {
			v.fail("%s: its previous hash is not version %d's hash: an event is missing, reordered or altered before it", where, i-1)
			return
		}
		if e.LeafIndex <= lastLeaf {
			v.fail("%s: leaf %d does not come after the previous version's leaf %d: reordered", where, e.LeafIndex, lastLeaf)
			return
		}
		lastLeaf = e.LeafIndex
		recordedAt, actor := e.RecordedAt, e.ActorID
		if e.Withheld == "" {
			if e.DataFile == "" || e.MetadataFile == "" {
				v.fail("%s: its stored bytes are missing from the bundle", where)
				return
			}
			data, err1 := b.read(e.DataFile)
			meta, err2 := b.read(e.MetadataFile)
			if err := errors.Join(err1, err2); err != nil {
				v.fail("%s: its stored bytes cannot be read: %v", where, err)
				return
			}
			id, err := uuidBytes(e.EventID)
			if err != nil {
				v.fail("%s: malformed event id", where)
				return
			}
			if got := chainHash(prev, m.Stream, e.Version, id, e.Type, meta, data); got != hash {
				v.fail("%s: its stored bytes do not give its chain hash: the event was altered", where)
				return
			}
			recordedAt, actor = metaFields(meta)
			fromBytes++
		}
		leaf := leafHash(e.Position, m.Stream, strconv.FormatInt(e.Version, 10), e.EventID, e.Type, recordedAt, actor, hex.EncodeToString(hash[:]))
		proof, err := hashes(e.Inclusion)
		if err != nil {
			v.fail("%s: malformed inclusion proof", where)
			return
		}
		if err := tlog.CheckRecord(tlog.RecordProof(proof), cp.size, cp.root, e.LeafIndex, leaf); err != nil {
			v.fail("%s: not in the signed Merkle log at leaf %d: %v", where, e.LeafIndex, err)
			return
		}
		proven++
		prev = hash
	}
	if int64(len(m.Events)) != m.VersionsAtExport {
		v.fail("the bundle holds %d versions, the manifest says the case had %d at export", len(m.Events), m.VersionsAtExport)
		return
	}
	v.pass("chain of %d versions from version 0, none missing or out of order; %d recomputed from their exact stored bytes, %d withheld checked by their leaf", len(m.Events), fromBytes, len(m.Events)-fromBytes)
	v.pass("%d leaves proven in the signed tree of %d leaves", proven, cp.size)
}

// chainHash is caseledger's event chain (eventstore/chain.go):
// SHA-256(tag ‖ prev ‖ len‖stream ‖ version ‖ id ‖ len‖type ‖ len‖metadata ‖ len‖data).
func chainHash(prev [32]byte, stream string, version int64, id [16]byte, typ string, meta, data []byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	h.Write([]byte("caseledger/event-chain/v1\x00"))
	h.Write(prev[:])
	field([]byte(stream))
	binary.BigEndian.PutUint64(n[:], uint64(version))
	h.Write(n[:])
	h.Write(id[:])
	field([]byte(typ))
	field(meta)
	field(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// leafHash is caseledger's ledger leaf (services/ledger/leaf.go).
func leafHash(fields ...string) tlog.Hash {
	fields = append([]string{"caseledger/ledger-leaf/v1"}, fields...)
	var b []byte
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, uint64(len(f)))
		b = append(b, f...)
	}
	return tlog.RecordHash(b)
}

// metaFields reads recorded_at and actor.user_id from stored metadata, as
// the ledger does: anything else gives empty fields.
func metaFields(meta []byte) (recordedAt, actor string) {
	var m struct {
		RecordedAt any `json:"recorded_at"`
		Actor      struct {
			UserID any `json:"user_id"`
		} `json:"actor"`
	}
	_ = json.Unmarshal(meta, &m)
	recordedAt, _ = m.RecordedAt.(string)
	actor, _ = m.Actor.UserID.(string)
	return recordedAt, actor
}

func hex32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return out, errors.New("not 64 hex digits")
	}
	copy(out[:], b)
	return out, nil
}

func hashes(hs []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		b, err := hex32(h)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func uuidBytes(s string) ([16]byte, error) {
	var out [16]byte
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || len(s) != 36 {
		return out, errors.New("not a uuid")
	}
	copy(out[:], b)
	return out, nil
}

// outside reports a path that leaves the bundle's directory.
func outside(p string) bool {
	return strings.Contains(p, "..") || filepath.IsAbs(p) || strings.HasPrefix(p, "/")
}
