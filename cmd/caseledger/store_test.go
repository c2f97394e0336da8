package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// demoInto appends n generated cases to a fresh data directory and returns
// the directory and the case the demo printed.
func demoInto(t *testing.T, n string) (dir, caseID string) {
	t.Helper()
	dir = t.TempDir()
	out, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "demo", "--cases", n, "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`caseledger replay ([0-9a-f-]{36})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo did not name a case:\n%s", out)
	}
	return dir, m[1]
}

func TestDemoAppendsAndIsIdempotent(t *testing.T) {
	dir, _ := demoInto(t, "20")
	out, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "demo", "--cases", "20", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "appended to "+filepath.Join(dir, "events.db")+": 0 events in") {
		t.Fatalf("a second run with the same seed wrote again:\n%s", out)
	}
	out, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "verify")
	_, accessStreams := accessRecords(t, dir)
	if err != nil || !strings.Contains(out, fmt.Sprintf("in %d streams", 20+accessStreams)) || !strings.Contains(out, "every chain holds") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

func TestReplay(t *testing.T) {
	dir, caseID := demoInto(t, "10")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	out, _, err := runArgs(t, env, "replay", "--as", "aud-1", "--purpose", "audit", caseID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"case-" + caseID, "Case opened", "chain verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay lacks %q", want)
		}
	}
	if _, _, err := runArgs(t, env, "replay", "--as", "aud-1", "--purpose", "audit", "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"); !errors.Is(err, errNotFound) {
		t.Errorf("unknown case: %v", err)
	}
	if _, _, err := runArgs(t, env, "replay", "--as", "aud-1", "--purpose", "audit", "not-a-case"); !errors.Is(err, errUsage) {
		t.Errorf("bad case id: %v", err)
	}
	if _, _, err := runArgs(t, env, "replay"); !errors.Is(err, errUsage) {
		t.Errorf("missing case id: %v", err)
	}
	// Past views, flags after the case id as the usage shows them.
	whole := strings.Count(out, "\n")
	for _, args := range [][]string{
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-recorded-at", "2025-06-01T00:00:00Z"},
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-occurred-at", "2025-06-01T00:00:00Z"},
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-of-position", "1/1"},
	} {
		got, _, err := runArgs(t, env, args...)
		if err != nil && args[6] == "--as-of-position" && errors.Is(err, casefile.ErrBeforeCase) {
			continue // the case is not the first in the log
		}
		if err != nil || !strings.Contains(got, "of the") || strings.Count(got, "\n") > whole+1 || !strings.Contains(got, "chain verified") {
			t.Errorf("%v: %v\n%s", args[6:], err, got)
		}
	}
	for args, want := range map[[8]string]string{
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-recorded-at", "yesterday"}:            "--as-recorded-at is not an RFC 3339 time",
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-occurred-at", "2999-01-01T00:00:00Z"}: "the time is in the future",
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-of-position", "x"}:                    "--as-of-position is not a position",
		{"replay", "--as", "aud-1", "--purpose", "audit", "--as-recorded-at", "2024-01-01T00:00:00Z", caseID}: "",
		{"replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-recorded-at", "1999-01-01T00:00:00Z"}: "the case had no entry yet",
	} {
		_, _, err := runArgs(t, env, args[:]...)
		if want == "" {
			if err != nil && !errors.Is(err, casefile.ErrBeforeCase) {
				t.Errorf("%v: %v", args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
	_, _, err = runArgs(t, env, "replay", "--as", "aud-1", "--purpose", "audit", caseID, "--as-recorded-at", "2024-01-01T00:00:00Z", "--as-occurred-at", "2024-01-01T00:00:00Z")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "at most one") {
		t.Errorf("two cuts: %v", err)
	}
}

// tamper opens the store file with plain SQL, as an insider with file access
// could, and runs the statements; it returns the stream and version of the
// row at position pos before tampering.
func tamper(t *testing.T, dir string, pos int, stmts ...string) (string, int) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stream string
	var version int
	if err := db.QueryRow("SELECT stream, version FROM events WHERE position = ?", pos).Scan(&stream, &version); err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := db.Exec(q, pos); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return stream, version
}

func TestVerifyNamesTheBreak(t *testing.T) {
	tests := []struct {
		name  string
		stmts []string
		want  func(stream string, version int) string
	}{
		{"one byte changed", []string{
			"DROP TRIGGER events_no_update",
			"UPDATE events SET data = CAST(replace(CAST(data AS TEXT), '\"', '''') AS BLOB) WHERE position = ?",
		}, func(s string, v int) string { return s + " at version " + itoa(v) + ": stored bytes do not match" }},
		{"metadata changed", []string{
			"DROP TRIGGER events_no_update",
			"UPDATE events SET metadata = CAST(replace(CAST(metadata AS TEXT), 'officer', 'admin') AS BLOB) WHERE position = ?",
		}, func(s string, v int) string { return s + " at version " + itoa(v) + ": stored bytes do not match" }},
		{"row deleted", []string{
			"DROP TRIGGER events_no_delete",
			"DELETE FROM events WHERE position = ?",
		}, func(s string, v int) string {
			return s + " at version " + itoa(v) + ": version " + itoa(v+1) + " follows"
		}},
		{"two rows swapped", []string{
			"DROP TRIGGER events_no_update",
			// swap this row with the next event of its stream
			`UPDATE events SET position = -position WHERE position IN (?1, (SELECT min(e.position) FROM events e, events f WHERE f.position = ?1 AND e.stream = f.stream AND e.version = f.version + 1))`,
			`UPDATE events SET position = (SELECT max(-position) FROM events WHERE position < 0) WHERE position = -?1`,
			`UPDATE events SET position = ?1 WHERE position < 0`,
		}, func(s string, v int) string {
			return s + " at version " + itoa(v) + ": version " + itoa(v+1) + " follows"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := demoInto(t, "5")
			// Without dropping its trigger, the store refuses the change.
			db, _ := sql.Open("sqlite", filepath.Join(dir, "events.db"))
			if _, err := db.Exec("UPDATE events SET type = 'x' WHERE position = 10"); err == nil || !strings.Contains(err.Error(), "immutable") {
				t.Fatalf("update allowed: %v", err)
			}
			db.Close()
			stream, version := tamper(t, dir, 40, tt.stmts...)
			out, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "verify")
			if !errors.Is(err, errChainBroken) {
				t.Fatalf("verify after tampering: %v\n%s", err, out)
			}
			if want := "BROKEN " + tt.want(stream, version); !strings.Contains(out, want) {
				t.Fatalf("verify output lacks %q:\n%s", want, out)
			}
			if strings.Count(out, "BROKEN") != 1 {
				t.Fatalf("other streams reported:\n%s", out)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStoreLockedAndCorrupt(t *testing.T) {
	dir, _ := demoInto(t, "2")
	ctx := context.Background()
	held, err := openStore(ctx, storeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A second writer is locked out…
	_, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "demo", "--cases", "1")
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second writer: %v", err)
	}
	// …while an auditor's verify reads beside the writer.
	out, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "verify")
	if err != nil || !strings.Contains(out, "every chain holds") {
		t.Fatalf("verify beside a writer: %v\n%s", err, out)
	}
	// A data directory with no store is an error, not a new empty store.
	_, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": t.TempDir()}, "verify")
	if err == nil {
		t.Fatal("verify of an empty directory succeeded")
	}
}

func TestEventStoreURLIsChecked(t *testing.T) {
	_, _, err := runArgs(t, nil, "verify", "--eventstore-url", "postgres://user:s3cret@db/events", "--data-dir", "")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--eventstore-url must start with") || !strings.Contains(err.Error(), "--data-dir must not be empty") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error repeats the URL's password: %v", err)
	}
	// An unreachable server fails at start with a clear error, not later.
	_, _, err = runArgs(t, map[string]string{"CASELEDGER_EVENTSTORE_URL": "kurrentdb://127.0.0.1:1?tls=false"}, "verify")
	if err == nil || !strings.Contains(err.Error(), "kurrent: connect") {
		t.Fatalf("unreachable server: %v", err)
	}
}

func TestProjectAndRebuild(t *testing.T) {
	dir, caseID := demoInto(t, "12")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	out, _, err := runArgs(t, env, "project")
	if err != nil || !strings.Contains(out, "case_files: applied") {
		t.Fatalf("project: %v\n%s", err, out)
	}
	count := func() (cases, timeline int) {
		db, err := sql.Open("sqlite", filepath.Join(dir, "readmodels.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.QueryRow("SELECT count(*) FROM cases").Scan(&cases)
		db.QueryRow("SELECT count(*) FROM timeline").Scan(&timeline)
		var status string
		if err := db.QueryRow("SELECT status FROM cases WHERE case_id = ?", caseID).Scan(&status); err != nil || status == "" {
			t.Fatalf("case %s not in the read model: %v", caseID, err)
		}
		return
	}
	cases, timeline := count()
	if cases != 12 || timeline == 0 {
		t.Fatalf("read model holds %d cases, %d timeline rows", cases, timeline)
	}
	// Nothing new: a second run applies nothing; a rebuild gives the same.
	out, _, err = runArgs(t, env, "project")
	if err != nil || !strings.Contains(out, "applied 0 events") {
		t.Fatalf("second project: %v\n%s", err, out)
	}
	if _, _, err := runArgs(t, env, "project", "--rebuild", "case_files"); err != nil {
		t.Fatal(err)
	}
	if c2, t2 := count(); c2 != cases || t2 != timeline {
		t.Fatalf("rebuild: %d/%d, before %d/%d", c2, t2, cases, timeline)
	}
	if _, _, err := runArgs(t, env, "project", "--rebuild", "dashboards"); !errors.Is(err, errUsage) {
		t.Fatalf("unknown read model: %v", err)
	}
}

// TestProjectIntoPostgres runs the project command against the PostgreSQL
// the test script started, when there is one.
func TestProjectIntoPostgres(t *testing.T) {
	url := os.Getenv("CASELEDGER_TEST_POSTGRES")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CASELEDGER_TEST_POSTGRES is not set in CI")
		}
		t.Skip("CASELEDGER_TEST_POSTGRES not set")
	}
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "cli_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec("DROP SCHEMA " + schema + " CASCADE")
	dir, _ := demoInto(t, "5")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir, "CASELEDGER_READMODEL_URL": url + "&search_path=" + schema}
	out, _, err := runArgs(t, env, "project")
	if err != nil || !strings.Contains(out, "case_files: applied") {
		t.Fatalf("project: %v\n%s", err, out)
	}
	var n int
	if err := admin.QueryRow("SELECT count(*) FROM " + schema + ".cases").Scan(&n); err != nil || n != 5 {
		t.Fatalf("%d cases in PostgreSQL: %v", n, err)
	}
}

// TestLedgerProofs: the inclusion proof of an event and the consistency
// proof between two signed checkpoints, as printed, check with tlog.
func TestLedgerProofs(t *testing.T) {
	ctx := context.Background()
	dir, caseID := demoInto(t, "6")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	sign := func() { signCheckpoint(t, dir) }
	sign()
	if _, _, err := runArgs(t, env, "demo", "--cases", "9", "--seed", "3"); err != nil {
		t.Fatal(err)
	}
	sign()
	st, err := openReader(ctx, storeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, recs, err := casefile.Load(ctx, st, uuid.MustParse(caseID))
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runArgs(t, env, "ledger", "prove", "--as", "aud-1", "--purpose", "audit", recs[2].ID.String())
	if err != nil {
		t.Fatal(err)
	}
	var inc struct {
		LeafIndex int64            `json:"leaf_index"`
		TreeSize  int64            `json:"tree_size"`
		Root      tlog.Hash        `json:"root"`
		Proof     tlog.RecordProof `json:"proof"`
	}
	if err := json.Unmarshal([]byte(out), &inc); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(inc.Proof, inc.TreeSize, inc.Root, inc.LeafIndex, ledger.LeafOf(recs[2]).Hash()); err != nil {
		t.Fatalf("inclusion proof: %v\n%s", err, out)
	}
	cps := regexp.MustCompile(`"tree_size": (\d+)`).FindStringSubmatch(out)
	ks, _ := openReader(ctx, storeConfig{DataDir: dir})
	keys, _ := ledger.LoadVerifier(filepath.Join(keysBeside(dir), "ledger", ledger.PublicKeyFile))
	stored, _ := ledger.ReadCheckpoints(ctx, ks, keys)
	ks.Close()
	if len(stored) != 2 || cps == nil {
		t.Fatalf("%d checkpoints", len(stored))
	}
	out, _, err = runArgs(t, env, "ledger", "consistency", strconv.FormatInt(stored[1].Size, 10), strconv.FormatInt(stored[0].Size, 10))
	if err != nil {
		t.Fatal(err)
	}
	var con struct {
		OldSize int64          `json:"old_size"`
		NewSize int64          `json:"new_size"`
		OldRoot tlog.Hash      `json:"old_root"`
		NewRoot tlog.Hash      `json:"new_root"`
		Proof   tlog.TreeProof `json:"proof"`
	}
	if err := json.Unmarshal([]byte(out), &con); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(con.Proof, con.NewSize, con.NewRoot, con.OldSize, con.OldRoot); err != nil || con.OldSize != stored[0].Size {
		t.Fatalf("consistency proof: %v\n%s", err, out)
	}
	if _, _, err := runArgs(t, env, "ledger", "consistency", "1", strconv.FormatInt(stored[0].Size, 10)); err == nil {
		t.Error("a size no checkpoint has was accepted")
	}
	if _, _, err := runArgs(t, env, "ledger", "prove", "--as", "aud-1", "--purpose", "audit", "not-an-id"); !errors.Is(err, errUsage) {
		t.Errorf("a malformed event id: %v", err)
	}
}

// signCheckpoint signs a ledger checkpoint over the data directory's record
// with its key, as serve does.
func signCheckpoint(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	st, err := openStore(ctx, storeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := ledgerKeys(storeConfig{DataDir: dir}, defaultOrigin, "")
	if err != nil {
		t.Fatal(err)
	}
	s := &ledger.Service{Log: ledger.NewMemory(), Keys: keys, Store: st}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SignNow(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBackupOnlineAndRestore: a backup taken while notes are being
// appended restores into a new directory where every chain and every
// signed checkpoint verify; a damaged backup is refused by name.
func TestBackupOnlineAndRestore(t *testing.T) {
	ctx := context.Background()
	dir, caseID := demoInto(t, "12")
	signCheckpoint(t, dir)
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "project"); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, storeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	writing := make(chan int)
	go func() {
		n := 0
		defer func() { writing <- n }()
		id := uuid.MustParse(caseID)
		for {
			select {
			case <-stop:
				return
			default:
			}
			at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			cmd := domain.AddNote{CommandHeader: domain.CommandHeader{CaseID: id, CommandID: domain.EventID(id, 90000+n),
				Actor: domain.Actor{UserID: "off-1", Role: domain.RoleOfficer, Agency: "police-lavallee"}, OccurredAt: at, SourceSystem: "records"},
				NoteAdded: domain.NoteAdded{NoteID: domain.EventID(id, 95000+n), Text: "Checked in."}}
			if _, _, err := casefile.Execute(ctx, st, cmd, func() time.Time { return at }, 3); err != nil {
				return
			}
			n++
		}
	}()
	time.Sleep(50 * time.Millisecond)
	backup := filepath.Join(t.TempDir(), "backup")
	out, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "backup", "--out", backup)
	close(stop)
	written := <-writing
	st.Close()
	if err != nil || !strings.Contains(out, "events; restore with") {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if written == 0 {
		t.Fatal("nothing was appended while the backup ran: it was not online")
	}
	restored := filepath.Join(t.TempDir(), "restored")
	// An EventStoreDB URL in the environment does not divert the check.
	out, _, err = runArgs(t, map[string]string{"CASELEDGER_EVENTSTORE_URL": "kurrentdb://127.0.0.1:1?tls=false"}, "restore", "--from", backup, "--data-dir", restored)
	if err != nil || !strings.Contains(out, "every chain holds") || !regexp.MustCompile(`[1-9]\d* signed checkpoints match the record`).MatchString(out) {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	// Restored beside another keys directory, the personal data stays
	// sealed, and restore says so.
	if !strings.Contains(out, "no master key that opens the restored personal data key store") {
		t.Errorf("restore without the master key does not say so:\n%s", out)
	}
	for _, f := range []string{"events.db", "readmodels.db", personalKeysFile} {
		if _, err := os.Stat(filepath.Join(restored, f)); err != nil {
			t.Errorf("restored data directory lacks %s", f)
		}
	}
	// Keys live apart from the data: the backup carries the ledger's public
	// key to check with, never its signing key, and the restored data
	// directory holds neither.
	if _, err := os.Stat(filepath.Join(backup, "ledger", "signing.key")); err == nil {
		t.Error("the backup holds the ledger's signing key")
	}
	if _, err := os.Stat(filepath.Join(backup, "ledger", "ledger.pub")); err != nil {
		t.Error("the backup lacks the ledger's public key")
	}
	if _, err := os.Stat(filepath.Join(restored, "ledger", "signing.key")); err == nil {
		t.Error("a signing key was restored into the data directory")
	}
	if _, _, err := runArgs(t, nil, "restore", "--from", backup, "--data-dir", restored); err == nil {
		t.Error("a restore over a data directory that holds a store")
	}
	raw, _ := os.ReadFile(filepath.Join(backup, "events.db"))
	raw[len(raw)/2] ^= 1
	os.WriteFile(filepath.Join(backup, "events.db"), raw, 0o600)
	if _, _, err := runArgs(t, nil, "restore", "--from", backup, "--data-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "events.db in the backup is missing or damaged") {
		t.Errorf("a damaged backup: %v", err)
	}
}

// TestKeysApartFromData: the ledger's key pair is made in the keys
// directory, never in the data directory; a key an earlier version left in
// the data directory is refused with the command that moves it; a keys
// directory inside the data directory is refused.
func TestKeysApartFromData(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	env := map[string]string{"CASELEDGER_DATA_DIR": data}
	pub, _, err := runArgs(t, env, "ledger", "pubkey")
	if err != nil || !strings.HasPrefix(pub, defaultOrigin+"+") {
		t.Fatalf("ledger pubkey: %v %q", err, pub)
	}
	if _, err := os.Stat(filepath.Join(root, "caseledger-keys", "ledger", ledger.SigningKeyFile)); err != nil {
		t.Fatalf("the key pair is not in the keys directory beside the data directory: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("making a key made the data directory: %v", err)
	}
	old := filepath.Join(t.TempDir(), "data")
	if _, err := ledger.LoadOrCreateKeys(filepath.Join(old, "ledger"), defaultOrigin); err != nil {
		t.Fatal(err)
	}
	_, _, err = runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": old}, "ledger", "pubkey")
	if !errors.Is(err, errKeyInDataDir) || !strings.Contains(err.Error(), "mv "+filepath.Join(old, "ledger", ledger.SigningKeyFile)) {
		t.Errorf("a key left in the data directory: %v", err)
	}
	if _, _, err := runArgs(t, env, "verify", "--keys-dir", filepath.Join(data, "keys")); err == nil || !strings.Contains(err.Error(), "--keys-dir must not be the data directory nor inside it") {
		t.Errorf("keys inside the data directory: %v", err)
	}
}

// TestAlteredSchemaIsReported plays the insider with the stock sqlite3
// tool: a trigger dropped, another replaced by one that does nothing, a
// trigger added. verify names each; nothing opens the store for writing
// until an operator restores the schema, which the record then keeps.
func TestAlteredSchemaIsReported(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 tool is not installed (scripts/test.sh installs it)")
	}
	dir, _ := demoInto(t, "4")
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	db := filepath.Join(dir, "events.db")
	if out, err := exec.Command("sqlite3", db,
		"DROP TRIGGER events_no_delete",
		"DROP TRIGGER events_no_update",
		"CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT 1; END",
		"CREATE TRIGGER audit_quiet AFTER INSERT ON events BEGIN SELECT 1; END",
		// A name SQLite's statistics tables would match with LIKE.
		"CREATE TRIGGER [sqlite-stat5] BEFORE INSERT ON events WHEN NEW.stream LIKE 'access-%' BEGIN SELECT RAISE(IGNORE); END").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	report, _, err := runArgs(t, env, "verify")
	if !errors.Is(err, errSchemaAltered) {
		t.Fatalf("verify of an altered store: %v\n%s", err, report)
	}
	for _, want := range []string{"SCHEMA ALTERED: trigger events_no_delete is missing", "SCHEMA ALTERED: trigger events_no_update was replaced", "SCHEMA ALTERED: trigger audit_quiet was added", "SCHEMA ALTERED: trigger sqlite-stat5 was added"} {
		if !strings.Contains(report, want) {
			t.Errorf("verify does not say %q:\n%s", want, report)
		}
	}
	if _, _, err := runArgs(t, env, "demo", "--cases", "1", "--seed", "5"); !errors.Is(err, sqlite.ErrSchemaAltered) || !strings.Contains(err.Error(), "caseledger store restore-schema") {
		t.Fatalf("a writer opened an altered store: %v", err)
	}
	out, _, err := runArgs(t, env, "store", "restore-schema", "--operator", "ops-7")
	if err != nil || !strings.Contains(out, "restored: trigger events_no_delete is missing") || !strings.Contains(out, "recorded in stream store-maintenance") {
		t.Fatalf("restore-schema: %v\n%s", err, out)
	}
	if report, _, err := runArgs(t, env, "verify"); err != nil || strings.Contains(report, "SCHEMA ALTERED") {
		t.Fatalf("verify after the restore: %v\n%s", err, report)
	}
	got, err := exec.Command("sqlite3", db, "SELECT type, CAST(metadata AS TEXT) FROM events WHERE stream = 'store-maintenance'").CombinedOutput()
	if err != nil || !strings.Contains(string(got), "store.schema_restored") || !strings.Contains(string(got), `"user_id":"ops-7"`) {
		t.Fatalf("the record does not keep the restore: %v %s", err, got)
	}
	if out, err := exec.Command("sqlite3", db, "DELETE FROM events WHERE stream = 'store-maintenance'").CombinedOutput(); err == nil || !strings.Contains(string(out), "events are immutable") {
		t.Fatalf("the restored trigger does not hold: %v %s", err, out)
	}
	if _, _, err := runArgs(t, env, "store", "restore-schema", "--operator", "ops-7"); err != nil {
		t.Fatalf("restore-schema on a whole store: %v", err)
	}
}

// TestKeysDirThroughALink: a keys directory that is a link into the data
// directory is inside it.
func TestKeysDirThroughALink(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	os.MkdirAll(filepath.Join(data, "k"), 0o700)
	os.Symlink(filepath.Join(data, "k"), filepath.Join(root, "keylink"))
	if !inside(filepath.Join(root, "keylink", "ledger"), data) || !inside(filepath.Join(root, "keylink"), data) {
		t.Error("a keys directory linked into the data directory is not seen inside it")
	}
	if inside(filepath.Join(root, "keys"), data) {
		t.Error("a keys directory beside the data directory is seen inside it")
	}
}

// TestForgedTailIsRefused plays the insider of issue 14 with the stock
// sqlite3 tool: a forged note appended at the end of a case, triggers
// dropped, its chain hash recomputed from the README's formula, triggers
// put back. The chain holds; but the event is not signed by the writer:
// verify names it, serve's ledger refuses to log (and so to sign) it, and
// no bundle of the case can be proven.
func TestForgedTailIsRefused(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 tool is not installed (scripts/test.sh installs it)")
	}
	for _, afterCheckpoint := range []bool{false, true} {
		t.Run(fmt.Sprintf("after a checkpoint %v", afterCheckpoint), func(t *testing.T) { forgeTail(t, afterCheckpoint) })
	}
}

func forgeTail(t *testing.T, afterCheckpoint bool) {
	ctx := context.Background()
	dir, caseID := demoInto(t, "3")
	if afterCheckpoint {
		signCheckpoint(t, dir)
	}
	env := map[string]string{"CASELEDGER_DATA_DIR": dir}
	if report, _, err := runArgs(t, env, "verify"); err != nil || !strings.Contains(report, "every event is signed by a registered writer") {
		t.Fatalf("verify of the untouched record: %v\n%s", err, report)
	}
	st, err := openReader(ctx, storeConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ReadStream(ctx, "case-"+caseID, 0, 10000)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	forged := eventstore.EventData{ID: uuid.New(), Type: "case.note_added",
		Data:     []byte(`{"note_id":"` + uuid.NewString() + `","text":"FORGED: victim recanted"}`),
		Metadata: last.Metadata} // a genuine event's metadata, writer signature and all
	version := last.Version + 1
	hash := eventstore.ChainHash(last.Hash, last.Stream, version, forged)
	insert := fmt.Sprintf(`INSERT INTO events (stream, version, event_id, type, data, metadata, recorded_at, prev_hash, hash) VALUES ('%s', %d, '%s', '%s', CAST(X'%x' AS BLOB), CAST(X'%x' AS BLOB), %d, X'%x', X'%x')`,
		last.Stream, version, forged.ID, forged.Type, forged.Data, forged.Metadata, last.RecordedAt.UnixMicro()+1, last.Hash[:], hash[:])
	db := filepath.Join(dir, "events.db")
	if out, err := exec.Command("sqlite3", db, "DROP TRIGGER events_no_update", insert,
		"CREATE TRIGGER events_no_update BEFORE UPDATE ON events\nBEGIN SELECT RAISE(ABORT, 'caseledger: events are immutable'); END").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	report, _, err := runArgs(t, env, "verify")
	if !errors.Is(err, errUnsigned) || !strings.Contains(report, "every chain holds") ||
		!strings.Contains(report, fmt.Sprintf("UNSIGNED ledger: the event's writer signature does not verify: %s version %d", last.Stream, version)) {
		t.Fatalf("verify of the forged tail: %v\n%s", err, report)
	}
	_, _, err = runArgs(t, env, "serve", "--nats-listen", "127.0.0.1:"+strconv.Itoa(freePort(t)))
	if !errors.Is(err, ledger.ErrBadWriterSig) || !strings.Contains(err.Error(), fmt.Sprintf("%s version %d", last.Stream, version)) {
		t.Fatalf("serve's ledger on the forged tail: %v", err)
	}
	if _, _, err := runArgs(t, env, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", caseID, "--out", filepath.Join(t.TempDir(), "b")); err == nil {
		t.Fatal("a bundle of the case with the forged tail was made")
	}
}

// TestSharedWriterKey: processes given one writer key (--writer-key, as
// compose's roles are) sign with it, and verify checks with it; events
// signed with another process's own key are named.
func TestSharedWriterKey(t *testing.T) {
	shared := filepath.Join(t.TempDir(), "w")
	if _, err := ledger.LoadOrCreateKeys(shared, writerOrigin); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(shared, ledger.SigningKeyFile)
	dir := t.TempDir()
	env := map[string]string{"CASELEDGER_DATA_DIR": dir, "CASELEDGER_WRITER_KEY": key}
	if _, _, err := runArgs(t, env, "demo", "--cases", "2"); err != nil {
		t.Fatal(err)
	}
	if report, _, err := runArgs(t, env, "verify"); err != nil || !strings.Contains(report, "every event is signed by a registered writer") {
		t.Fatalf("verify with the shared key: %v\n%s", err, report)
	}
	// The same store appended to by a process with its own key.
	if _, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": dir}, "demo", "--cases", "1", "--seed", "9"); err != nil {
		t.Fatal(err)
	}
	if report, _, err := runArgs(t, env, "verify"); !errors.Is(err, errUnsigned) || !strings.Contains(report, "UNSIGNED ledger: the event is signed by a key that is not a registered writer's") {
		t.Fatalf("verify after a foreign writer: %v\n%s", err, report)
	}
}
