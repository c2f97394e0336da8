package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/caseledger/caseledger/internal/testfixture"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/witness"
	"github.com/google/uuid"
)

// record is a fresh store with generated cases.
func record(t *testing.T, seed uint64, n int) *sqlite.Store { return recordB(t, seed, n) }

func recordB(t testing.TB, seed uint64, n int) *sqlite.Store {
	st, _ := testfixture.Generated(t, seed, n)
	return st
}

// appendCasesB appends n generated cases to st.
func appendCasesB(t testing.TB, st eventstore.Store, seed uint64, n int) []gen.Case {
	cases := testfixture.Cases(t, seed, n)
	testfixture.Append(t, st, cases)
	return cases
}

func appendCases(t *testing.T, st eventstore.Store, seed uint64, n int) []gen.Case {
	return appendCasesB(t, st, seed, n)
}

type fixture struct {
	bundle, pubkey string
	keyDir         string
	store          *sqlite.Store
	caseID         uuid.UUID
}

// setup signs a checkpoint over a record, appends more cases and signs a
// newer one, and exports a case with social-work entries (withheld).
func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	st := record(t, 31, 10)
	keyDir := t.TempDir()
	keys, err := ledger.LoadOrCreateKeys(keyDir, "caseledger.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	sign := func() {
		tree, err := ledger.Open(filepath.Join(keyDir, "tree"))
		if err != nil {
			t.Fatal(err)
		}
		defer tree.Close()
		s := &ledger.Service{Log: tree, Keys: keys, Store: st}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SignNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sign()
	appendCases(t, st, 32, 3)
	sign()
	cases, _ := gen.New(31).Cases(10)
	var caseID uuid.UUID
	for _, c := range cases {
		for _, e := range c.Events() {
			if e.Meta.Compartment == domain.CompartmentSocialWork {
				caseID = c.ID
			}
		}
	}
	tree := ledger.NewMemory()
	if _, err := tree.CatchUp(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	res, err := disclosure.Export(ctx, disclosure.Source{Store: st, Tree: tree, Keys: keys},
		disclosure.Options{CaseID: caseID, Reader: domain.Actor{UserID: "aud-1", Role: domain.RoleAuditor, Agency: "police-lavallee"}, Out: out, Now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Withheld == 0 {
		t.Fatal("the exported case has no withheld entry: the fixture does not test withholding")
	}
	return fixture{bundle: out, pubkey: filepath.Join(keyDir, ledger.PublicKeyFile), keyDir: keyDir, store: st, caseID: caseID}
}

func verify(t *testing.T, bundle, pubkey string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{bundle, "--pubkey", pubkey}, &out, &errOut)
	return code, out.String() + errOut.String()
}

// copyBundle copies a bundle so that one test can damage it.
func copyBundle(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func readManifestT(t *testing.T, dir string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeManifestT(t *testing.T, dir string, m map[string]any) {
	t.Helper()
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, text...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUntouchedBundleVerifies and TestTamperedBundlesFail are the issue's
// tamper table: each damage is caught with a message naming what is wrong.
func TestBundleVerification(t *testing.T) {
	f := setup(t)
	code, out := verify(t, f.bundle, f.pubkey)
	if code != 0 || !strings.Contains(out, "VERIFIED: case "+f.caseID.String()) || !strings.Contains(out, "withheld checked by their leaf") ||
		!strings.Contains(out, "extends the checkpoint") || !strings.Contains(out, "seal signed by caseledger.test/ledger") {
		t.Fatalf("the untouched bundle: exit %d\n%s", code, out)
	}
	firstData := func(dir string) (string, map[string]any) {
		m := readManifestT(t, dir)
		for _, e := range m["events"].([]any) {
			ev := e.(map[string]any)
			if ev["data_file"] != nil {
				return ev["data_file"].(string), ev
			}
		}
		t.Fatal("no disclosed event")
		return "", nil
	}
	otherKey := func() string {
		k, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.test/ledger")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "other.pub")
		os.WriteFile(p, []byte(k.VerifierKey+"\n"), 0o644)
		return p
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string) (pubkey string)
		code   int
		want   string
	}{
		{"one byte of one event", func(t *testing.T, dir string) string {
			file, _ := firstData(dir)
			p := filepath.Join(dir, file)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x20
			os.WriteFile(p, b, 0o600)
			return ""
		}, 1, "was altered"},
		{"one byte of one event, manifest rewritten to match", func(t *testing.T, dir string) string {
			file, _ := firstData(dir)
			p := filepath.Join(dir, file)
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x20
			os.WriteFile(p, b, 0o600)
			m := readManifestT(t, dir)
			for _, fl := range m["files"].([]any) {
				if fl.(map[string]any)["path"] == file {
					fl.(map[string]any)["sha256"] = sha(b)
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "do not give its chain hash: the event was altered"},
		{"a removed event", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			evs := m["events"].([]any)
			m["events"] = append(evs[:2:2], evs[3:]...)
			writeManifestT(t, dir, m)
			return ""
		}, 1, "version 2 is missing"},
		{"a removed event, versions renumbered", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			evs := m["events"].([]any)
			evs = append(evs[:2:2], evs[3:]...)
			for i, e := range evs {
				e.(map[string]any)["version"] = float64(i)
			}
			m["events"] = evs
			writeManifestT(t, dir, m)
			return ""
		}, 1, "previous hash is not version 1's hash"},
		{"the last event removed", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			evs := m["events"].([]any)
			m["events"] = evs[:len(evs)-1]
			writeManifestT(t, dir, m)
			return ""
		}, 1, "the manifest says the case had"},
		{"two events swapped", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			evs := m["events"].([]any)
			evs[3], evs[4] = evs[4], evs[3]
			writeManifestT(t, dir, m)
			return ""
		}, 1, "version 3 is missing"},
		{"a replaced checkpoint (the newer one in its place)", func(t *testing.T, dir string) string {
			b, _ := os.ReadFile(filepath.Join(dir, "newer.note"))
			os.WriteFile(filepath.Join(dir, "checkpoint.note"), b, 0o600)
			return ""
		}, 1, "checkpoint.note was altered"},
		{"a checkpoint with its size edited", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "checkpoint.note")
			b, _ := os.ReadFile(p)
			lines := strings.SplitN(string(b), "\n", 3)
			lines[1] += "0"
			os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
			m := readManifestT(t, dir)
			for _, fl := range m["files"].([]any) {
				if fl.(map[string]any)["path"] == "checkpoint.note" {
					nb, _ := os.ReadFile(p)
					fl.(map[string]any)["sha256"] = sha(nb)
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "does not verify with the pinned key"},
		{"checked against another key", func(t *testing.T, dir string) string { return otherKey() }, 1, "not the pinned key"},
		{"a forked log", func(t *testing.T, dir string) string {
			// The same key signs a checkpoint over another log: the newer
			// checkpoint then does not extend the bundle's.
			ctx := context.Background()
			fork := record(t, 99, 14)
			keys, _ := ledger.LoadKeys(filepath.Join(f.keyDir, ledger.SigningKeyFile))
			tree, _ := ledger.Open(filepath.Join(t.TempDir(), "tree"))
			defer tree.Close()
			s := &ledger.Service{Log: tree, Keys: keys, Store: fork}
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.SignNow(ctx); err != nil {
				t.Fatal(err)
			}
			cps, _ := ledger.ReadCheckpoints(ctx, fork, keys)
			os.WriteFile(filepath.Join(dir, "newer.note"), cps[0].Note, 0o600)
			m := readManifestT(t, dir)
			for _, fl := range m["files"].([]any) {
				if fl.(map[string]any)["path"] == "newer.note" {
					fl.(map[string]any)["sha256"] = sha(cps[0].Note)
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "the log forked or was rewritten"},
		{"an event file not in the manifest", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "events", "999999.data"), []byte("{}"), 0o600)
			return ""
		}, 1, "in the bundle but neither its manifest nor its seal lists it"},
		// The seal binds the manifest (and so every file it lists, the
		// scope, the access log and the withheld list) and the reports.
		{"report.html edited", func(t *testing.T, dir string) string {
			appendTo(t, filepath.Join(dir, "report.html"), "<p>Nothing was withheld.</p>")
			return ""
		}, 1, "report.html was altered"},
		{"report.pdf edited", func(t *testing.T, dir string) string {
			appendTo(t, filepath.Join(dir, "report.pdf"), "%% edited")
			return ""
		}, 1, "report.pdf was altered"},
		{"the scope edited", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			m["scope"] = "full file, nothing withheld"
			writeManifestT(t, dir, m)
			return ""
		}, 1, "manifest.json was altered"},
		{"the access log cut, manifest rewritten to match", func(t *testing.T, dir string) string {
			b := []byte("[]")
			os.WriteFile(filepath.Join(dir, "access.json"), b, 0o600)
			m := readManifestT(t, dir)
			for _, fl := range m["files"].([]any) {
				if fl.(map[string]any)["path"] == "access.json" {
					fl.(map[string]any)["sha256"] = sha(b)
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "manifest.json was altered"},
		{"a withheld entry's reason edited", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			for _, e := range m["events"].([]any) {
				if ev := e.(map[string]any); ev["withheld"] != nil {
					ev["withheld"] = "nothing to see"
					break
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "manifest.json was altered"},
		{"no seal", func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, "seal.note"))
			return ""
		}, 1, "the bundle is not sealed"},
		{"edited report sealed again with another key", func(t *testing.T, dir string) string {
			appendTo(t, filepath.Join(dir, "report.html"), "<p>edited</p>")
			k, err := ledger.LoadOrCreateKeys(t.TempDir(), "caseledger.local/ledger")
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			for _, n := range []string{"manifest.json", "report.html", "report.pdf"} {
				files[n], _ = os.ReadFile(filepath.Join(dir, n))
			}
			seal, err := disclosure.Seal(k.Signer, f.caseID, files)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "seal.note"), seal, 0o600)
			return ""
		}, 1, "seal.note is not signed by the pinned key"},
		{"a stray file beside the reports", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "addendum.html"), []byte("<p>also</p>"), 0o600)
			return ""
		}, 1, "addendum.html is in the bundle but neither its manifest nor its seal lists it"},
		{"scope edited, seal removed, relabelled format v1", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			m["scope"], m["format"] = "full file, nothing withheld", "caseledger-disclosure/v1"
			writeManifestT(t, dir, m)
			os.Remove(filepath.Join(dir, "seal.note"))
			return ""
		}, 1, "made before bundles were sealed"},
		{"a missing event file", func(t *testing.T, dir string) string {
			file, _ := firstData(dir)
			os.Remove(filepath.Join(dir, file))
			return ""
		}, 1, "is missing"},
		{"a truncated manifest", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "manifest.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o600)
			return ""
		}, 2, "manifest.json is malformed"},
		{"no manifest", func(t *testing.T, dir string) string {
			os.Remove(filepath.Join(dir, "manifest.json"))
			return ""
		}, 2, "no readable manifest.json"},
		{"a wrong key file", func(t *testing.T, dir string) string {
			p := filepath.Join(t.TempDir(), "junk.pub")
			os.WriteFile(p, []byte("not a key"), 0o644)
			return p
		}, 2, "is not a ledger public key"},
		{"the case id edited", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			m["case_id"] = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"
			writeManifestT(t, dir, m)
			return ""
		}, 2, "names case"},
		{"a disclosed event relabelled withheld", func(t *testing.T, dir string) string {
			file, ev := firstData(dir)
			m := readManifestT(t, dir)
			for _, e := range m["events"].([]any) {
				if x := e.(map[string]any); x["event_id"] == ev["event_id"] {
					x["withheld"] = "not relevant"
					delete(x, "data_file")
					delete(x, "metadata_file")
				}
			}
			var files []any
			for _, fl := range m["files"].([]any) {
				if p := fl.(map[string]any)["path"].(string); p != file && p != strings.Replace(file, ".data", ".metadata", 1) {
					files = append(files, fl)
				}
			}
			m["files"] = files
			os.Remove(filepath.Join(dir, file))
			os.Remove(filepath.Join(dir, strings.Replace(file, ".data", ".metadata", 1)))
			writeManifestT(t, dir, m)
			return ""
		}, 1, "the manifest says"},
		{"an event file that is a symbolic link", func(t *testing.T, dir string) string {
			file, _ := firstData(dir)
			p := filepath.Join(dir, file)
			b, _ := os.ReadFile(p)
			outside := filepath.Join(t.TempDir(), "elsewhere")
			os.WriteFile(outside, b, 0o600)
			os.Remove(p)
			os.Symlink(outside, p)
			return ""
		}, 1, "not a regular file"},
		{"a withheld event's leaf field edited", func(t *testing.T, dir string) string {
			m := readManifestT(t, dir)
			for _, e := range m["events"].([]any) {
				if ev := e.(map[string]any); ev["withheld"] != nil {
					ev["actor_id"] = "someone-else"
					break
				}
			}
			writeManifestT(t, dir, m)
			return ""
		}, 1, "not in the signed Merkle log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBundle(t, f.bundle)
			pub := tt.damage(t, dir)
			if pub == "" {
				pub = f.pubkey
			}
			code, out := verify(t, dir, pub)
			if code != tt.code || !strings.Contains(out, tt.want) || strings.Contains(out, "VERIFIED: case") {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s", code, tt.code, tt.want, out)
			}
		})
	}
	// The directory named in any form verifies alike.
	cwd, _ := os.Getwd()
	rel, err := filepath.Rel(cwd, f.bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{f.bundle + "/", rel, "./" + rel} {
		if code, out := verify(t, form, f.pubkey); code != 0 {
			t.Errorf("bundle named %q: exit %d\n%s", form, code, out)
		}
	}
	// One witness counts once towards a quorum, however often given; a
	// witness that never cosigned leaves the quorum unmet.
	cos, err := witness.LoadOrCreateCosigner(filepath.Join(t.TempDir(), "w.key"), "witness.test/w1")
	if err != nil {
		t.Fatal(err)
	}
	wpub := filepath.Join(t.TempDir(), "w.pub")
	os.WriteFile(wpub, []byte(cos.VerifierKey()+"\n"), 0o644)
	var twice bytes.Buffer
	if code := run([]string{f.bundle, "--pubkey", f.pubkey, "--witness", wpub, "--witness", wpub, "--quorum", "2"}, &twice, &twice); code != 2 || !strings.Contains(twice.String(), "is given twice") {
		t.Errorf("a witness given twice: %d %s", code, twice.String())
	}
	var unwitnessed bytes.Buffer
	if code := run([]string{f.bundle, "--pubkey", f.pubkey, "--witness", wpub}, &unwitnessed, &unwitnessed); code != 1 || !strings.Contains(unwitnessed.String(), "carries 0 valid cosignatures") {
		t.Errorf("a checkpoint no witness cosigned: %d %s", code, unwitnessed.String())
	}
	// Without a pinned key nothing is verified.
	var noKey bytes.Buffer
	if code := run([]string{f.bundle}, &noKey, &noKey); code != 2 || !strings.Contains(noKey.String(), "--pubkey FILE is required") {
		t.Fatalf("no key: %d %s", code, noKey.String())
	}
}

// TestDependsOnStandardLibraryAndXMod: caseverify can be read and built
// apart from caseledger.
func TestDependsOnStandardLibraryAndXMod(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		first := strings.SplitN(p, "/", 2)[0]
		if strings.Contains(first, ".") && !strings.HasPrefix(p, "golang.org/x/mod/") && p != "github.com/caseledger/caseledger/cmd/caseverify" {
			t.Errorf("caseverify depends on %s", p)
		}
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
