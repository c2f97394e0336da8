package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/google/uuid"
)

// personalValues lists the personal values of cases' events (those long
// enough to be told apart from common words).
func personalValues(t *testing.T, cases []gen.Case) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, c := range cases {
		for _, e := range c.Events() {
			_, err := domain.MapPersonal(e.Data, func(_, v string) (string, error) {
				if len(v) >= 12 && !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
				return v, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// grepData runs the stock grep over dir for any of values, as adversary F
// (a copy of the data directory) would, and returns what it found.
func grepData(t *testing.T, dir string, values []string) string {
	t.Helper()
	patterns := filepath.Join(t.TempDir(), "patterns")
	if err := os.WriteFile(patterns, []byte(strings.Join(values, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("grep", "-r", "-a", "-o", "-F", "-f", patterns, dir).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return "" // nothing found
		}
		t.Fatalf("grep: %v\n%s", err, out)
	}
	return string(out)
}

// TestPersonalDataEncryptedAtRest: with serve's defaults, the personal
// values of generated cases are read in clear through the API by an
// entitled role, and grep finds none of them anywhere in the data
// directory (the record and its WAL, the read models, the NATS store, the
// ledger), while every chain still verifies.
func TestPersonalDataEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"},{"token":"auditor-token-01234567890","user_id":"aud-1","role":"auditor","agency":"police-lavallee"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	port, httpPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	startServe := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--data-dir", data, "--nats-listen", "127.0.0.1:" + port, "--http-listen", "127.0.0.1:" + httpPort, "--tokens", tokens},
				func(string) string { return "" }, strings.NewReader(""), &out, &out)
		}()
		within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v\n%s", err, out.String())
			}
		}
	}
	stop := startServe()
	const n = 4
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": "nats://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": keysBeside(data)}, "emit", "--demo", strconv.Itoa(n)); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	cases, err := gen.New(1).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	values := personalValues(t, cases)
	if len(values) < 5 {
		t.Fatalf("the generated cases hold %d personal values: too few to test", len(values))
	}

	// An entitled reader sees a note's text in clear.
	var note domain.Event
	for _, c := range cases {
		for _, e := range c.Events() {
			if d, ok := e.Data.(domain.NoteAdded); ok && e.Meta.Compartment != domain.CompartmentSealed && e.Meta.Compartment != domain.CompartmentSocialWork && len(d.Text) >= 12 && note.Data == nil {
				note = e
			}
		}
	}
	if note.Data == nil {
		t.Fatal("no readable note in the generated cases")
	}
	text := note.Data.(domain.NoteAdded).Text
	var party domain.Event
	var partyText string
	for _, c := range cases {
		for _, e := range c.Events() {
			if d, ok := e.Data.(domain.PartyIdentified); ok && e.CaseID != note.CaseID && party.Data == nil && e.Meta.Compartment == domain.CompartmentShared {
				for _, sc := range d.SafeContact {
					if len(sc.Details) >= 8 {
						party, partyText = e, sc.Details
					}
				}
			}
		}
	}
	if party.Data == nil {
		t.Fatal("no shared party with safe-contact details in the generated cases")
	}
	get := func(path string, token ...string) (int, string) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+httpPort+path, nil)
		req.Header.Set("Authorization", "Bearer "+append(token, "supervisor-token-0123456789")[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	entry := "/v1/cases/" + note.CaseID.String() + "/entries/" + note.ID.String() + "?purpose=review"
	var body string
	within(t, 30*time.Second, func() bool {
		var code int
		code, body = get(entry)
		return code == 200
	})
	if !jsonHolds(t, body, text) {
		t.Fatalf("the entry as served does not hold the note's text in clear:\n%s", body)
	}
	if strings.Contains(body, domain.EncryptedPrefix) {
		t.Fatalf("the entry as served holds an encrypted value:\n%s", body)
	}
	if code, b := get("/v1/cases/" + party.CaseID.String() + "/entries/" + party.ID.String() + "?purpose=review"); code != 200 || !jsonHolds(t, b, partyText) {
		t.Fatalf("a party's safe contact is not served in clear before the erasure: %d\n%s", code, b)
	}

	stop()
	// The search finds a value where one stands (its own control).
	control := t.TempDir()
	if err := os.WriteFile(filepath.Join(control, "f"), []byte("x"+values[len(values)-1]+"y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if grepData(t, control, values) == "" {
		t.Fatal("grep does not find a value in clear: the search tests nothing")
	}
	t.Logf("%d personal values of %d cases searched for", len(values), n)
	// Each command's digest is sealed under its subject's key: a plain
	// SHA-256 of the command would let anyone with the record test guesses
	// of a phone number or an address against it, erased or not.
	ddb, err := sql.Open("sqlite", "file:"+filepath.Join(data, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var sealed, plain int
	_ = ddb.QueryRow(`SELECT coalesce(sum(json_extract(metadata, '$.command_digest') LIKE 'h1:%'), 0), coalesce(sum(json_extract(metadata, '$.command_digest') NOT LIKE 'h1:%'), 0) FROM events WHERE json_extract(metadata, '$.command_digest') IS NOT NULL`).Scan(&sealed, &plain)
	ddb.Close()
	if sealed == 0 || plain != 0 {
		t.Fatalf("command digests: %d sealed, %d plain SHA-256", sealed, plain)
	}
	if found := grepData(t, data, values); found != "" {
		t.Fatalf("personal values in clear in the data directory:\n%s", found[:min(len(found), 3000)])
	}
	verify := func() string {
		v, _, err := runArgs(t, nil, "verify", "--data-dir", data)
		if err != nil || !strings.Contains(v, "every chain holds") {
			t.Fatalf("verify: %v\n%s", err, v)
		}
		return v
	}
	before := verify()

	// A bundle exported before the erasure, to be verified after it.
	bundle := filepath.Join(dir, "bundle")
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": data}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", note.CaseID.String(), "--out", bundle); err != nil {
		t.Fatalf("export: %v\n%s", err, got)
	}

	// A backup taken before the erasure, to be restored after it.
	oldBackup := filepath.Join(dir, "backup-before")
	if got, _, err := runArgs(t, nil, "backup", "--data-dir", data, "--out", oldBackup); err != nil {
		t.Fatalf("backup: %v\n%s", err, got)
	}

	// Erasure: the event, then the key; a second run only checks the key.
	beforeErasure := time.Now().UTC()
	erase := []string{"erase", "--data-dir", data, "--case", note.CaseID.String(), "--reason", "request 2026-114", "--as", "sup-1"}
	if got, _, err := runArgs(t, nil, erase...); err != nil || !strings.Contains(got, "personal data erased") {
		t.Fatalf("erase: %v\n%s", err, got)
	}
	if got, _, err := runArgs(t, nil, erase...); err != nil || !strings.Contains(got, "already erased") {
		t.Fatalf("erase again: %v\n%s", err, got)
	}
	if got, _, err := runArgs(t, nil, "erase", "--data-dir", data, "--case", note.CaseID.String()); err == nil || !strings.Contains(got+err.Error(), "--reason is required") {
		t.Fatalf("erase without a reason: %v %s", err, got)
	}

	// A person of another case: the values about them (their safe
	// contacts) go.
	person := party.Data.(domain.PartyIdentified).PersonID
	erasePerson := []string{"erase", "--data-dir", data, "--person", person, "--reason", "request 2026-115", "--as", "sup-1"}
	if got, _, err := runArgs(t, nil, erasePerson...); err != nil || !strings.Contains(got, "personal data of person "+person+" erased") {
		t.Fatalf("erase --person: %v\n%s", err, got)
	}
	if got, _, err := runArgs(t, nil, erasePerson...); err != nil || !strings.Contains(got, "already erased") {
		t.Fatalf("erase --person again: %v\n%s", err, got)
	}
	if got, _, err := runArgs(t, nil, "erase", "--data-dir", data, "--person", "MNI-NOBODY", "--reason", "r", "--as", "sup-1"); err == nil || !strings.Contains(got+err.Error(), "person MNI-NOBODY is not a party of any case") {
		t.Fatalf("erase of an unknown person: %v %s", err, got)
	}
	// Every proof holds: the same events verify, one more (the erasure)
	// among them, and the Merkle log is rebuilt over the same bytes.
	after := verify()
	if strings.Contains(after, "FAIL") || before == after {
		t.Fatalf("verify before and after the erasure:\n%s\n%s", before, after)
	}

	// The bundle exported before the erasure still verifies: it proves
	// the same stored bytes.
	cv := filepath.Join(t.TempDir(), "caseverify")
	if out, err := exec.Command("go", "build", "-o", cv, "../caseverify").CombinedOutput(); err != nil {
		t.Fatalf("build caseverify: %v\n%s", err, out)
	}
	clear := filepath.Join(t.TempDir(), "clear")
	out, err := exec.Command(cv, bundle, "--pubkey", filepath.Join(keysBeside(data), "ledger", "ledger.pub"), "--decrypt", clear).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "VERIFIED: case "+note.CaseID.String()) || !strings.Contains(string(out), "personal values open under the bundle's data key") {
		t.Fatalf("caseverify of a bundle exported before the erasure: %v\n%s", err, out)
	}
	// Its recipient reads the disclosed note, decrypted by caseverify with
	// the key the bundle carries (the erasure came after the export).
	if grepData(t, clear, []string{text}) == "" {
		t.Fatalf("caseverify --decrypt does not give the disclosed note's text:\n%s", out)
	}

	// A backup taken after the erasure holds no personal value in clear;
	// the one taken before, restored now, does not bring the erased
	// case's key back.
	newBackup := filepath.Join(dir, "backup-after")
	if got, _, err := runArgs(t, nil, "backup", "--data-dir", data, "--out", newBackup); err != nil {
		t.Fatalf("backup: %v\n%s", err, got)
	}
	if found := grepData(t, newBackup, values); found != "" {
		t.Fatalf("personal values in clear in a backup:\n%s", found)
	}
	restored := filepath.Join(dir, "restored")
	if got, _, err := runArgs(t, nil, "restore", "--from", oldBackup, "--data-dir", restored, "--keys-dir", keysBeside(data)); err != nil {
		t.Fatalf("restore: %v\n%s", err, got)
	}
	kdb, err := sql.Open("sqlite", "file:"+filepath.Join(restored, personalKeysFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var erasedKeys, personKeys, otherKeys int
	_ = kdb.QueryRow(`SELECT count(*) FROM data_keys WHERE subject = ? OR subject LIKE ?`, personal.CaseSubject(note.CaseID), "p"+note.CaseID.String()+".%").Scan(&erasedKeys)
	_ = kdb.QueryRow(`SELECT count(*) FROM data_keys WHERE subject = ?`, personal.PartySubject(party.CaseID, party.Data.(domain.PartyIdentified).PartyID)).Scan(&personKeys)
	_ = kdb.QueryRow(`SELECT count(*) FROM data_keys WHERE subject LIKE 'c%'`).Scan(&otherKeys)
	kdb.Close()
	if erasedKeys != 0 || personKeys != 0 || otherKeys != n-1 {
		t.Fatalf("the restored key store holds %d keys of the erased case, %d of the erased person, and %d case keys in all, want 0, 0 and %d", erasedKeys, personKeys, otherKeys, n-1)
	}

	stop = startServe()
	var erased string
	within(t, 30*time.Second, func() bool {
		code, b := get(entry)
		erased = b
		return code == 200
	})
	today := time.Now().UTC().Format(time.DateOnly)
	if jsonHolds(t, erased, text) || !jsonHolds(t, erased, "[erased on request on "+today+"]") {
		t.Fatalf("the note after its case's erasure:\n%s", erased)
	}
	code, personEntry := get("/v1/cases/" + party.CaseID.String() + "/entries/" + party.ID.String() + "?purpose=review")
	if code != 200 || jsonHolds(t, personEntry, partyText) || !jsonHolds(t, personEntry, "[erased on request on "+today+"]") {
		t.Fatalf("the party's entry after the person's erasure: %d\n%s", code, personEntry)
	}
	// A replay as recorded before the erasure holds neither the text nor
	// its ciphertext. Weak on its own: replay summaries never name a
	// personal value; it guards against one that starts to.
	code, replay := get("/v1/cases/"+note.CaseID.String()+"/replay?purpose=review&recorded_at="+beforeErasure.Format(time.RFC3339Nano), "auditor-token-01234567890")
	if code != 200 || strings.Contains(replay, text) || strings.Contains(replay, domain.EncryptedPrefix) {
		t.Fatalf("replay before the erasure: %d\n%s", code, replay)
	}
	stop() // the ledger signs a checkpoint that covers the erasure
	if found := grepData(t, data, values); found != "" {
		t.Fatalf("personal values in clear in the data directory after the erasure:\n%s", found)
	}
	// Exported after the erasure, the bundle has no key: its values stay
	// sealed, and it still verifies.
	sealedBundle := filepath.Join(dir, "bundle-after")
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_DATA_DIR": data}, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", note.CaseID.String(), "--out", sealedBundle); err != nil {
		t.Fatalf("export after the erasure: %v\n%s", err, got)
	}
	sealedClear := filepath.Join(t.TempDir(), "sealed-clear")
	out, err = exec.Command(cv, sealedBundle, "--pubkey", filepath.Join(keysBeside(data), "ledger", "ledger.pub"), "--decrypt", sealedClear).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "VERIFIED: case "+note.CaseID.String()) || !strings.Contains(string(out), "stay sealed: personal data of the case was erased") {
		t.Fatalf("caseverify of a bundle exported after the erasure: %v\n%s", err, out)
	}
	// Its recipient reads, where the note stood, how it was erased.
	if grepData(t, sealedClear, []string{"[erased on request on " + today + "]"}) == "" {
		t.Fatalf("caseverify --decrypt of the erased case does not say how its values were erased:\n%s", out)
	}
	if found := grepData(t, sealedBundle, values); found != "" {
		t.Fatalf("a bundle exported after the erasure holds personal values in clear:\n%s", found)
	}
}

// jsonHolds reports whether the JSON document holds the string s as one
// of its values.
func jsonHolds(t *testing.T, doc, s string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return x == s
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// TestRetentionPlanAndRun: on generated cases, the plan names what a
// one-year rule erases and why; the run erases exactly those (event, then
// key), a second run finds nothing left to do, and the record verifies.
func TestRetentionPlanAndRun(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if got, _, err := runArgs(t, nil, "demo", "--cases", "30", "--data-dir", data); err != nil {
		t.Fatalf("demo: %v\n%s", err, got)
	}
	rules := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(rules, []byte(`{"default":{"name":"test-1y","no_charges_years":1,"with_charges_years":2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	plan, _, err := runArgs(t, nil, "retention", "plan", "--data-dir", data, "--rules", rules)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, plan)
	}
	m := regexp.MustCompile(`30 cases: (\d+) to erase, (\d+) blocked`).FindStringSubmatch(plan)
	if m == nil || m[1] == "0" {
		t.Fatalf("the plan erases nothing of 30 generated cases:\n%s", plan)
	}
	if strings.Count(plan, "\nerase ")+boolInt(strings.HasPrefix(plan, "erase ")) != atoi(t, m[1]) || !strings.Contains(plan, "test-1y") {
		t.Fatalf("the plan's lines do not match its count:\n%s", plan)
	}
	if _, _, err := runArgs(t, nil, "retention", "run", "--data-dir", data, "--rules", rules); err == nil || !strings.Contains(err.Error(), "--as USER is required") {
		t.Fatalf("run without --as: %v", err)
	}
	run, _, err := runArgs(t, nil, "retention", "run", "--data-dir", data, "--rules", rules, "--as", "admin-1")
	if err != nil || !strings.Contains(run, m[1]+" cases erased, 0 failed") {
		t.Fatalf("run: %v\n%s", err, run)
	}
	again, _, err := runArgs(t, nil, "retention", "plan", "--data-dir", data, "--rules", rules)
	if err != nil || !strings.Contains(again, "0 to erase") || !strings.Contains(again, m[1]+" already erased") {
		t.Fatalf("plan after the run: %v\n%s", err, again)
	}
	v, _, err := runArgs(t, nil, "verify", "--data-dir", data)
	if err != nil || !strings.Contains(v, "every chain holds") || !strings.Contains(v, "key store matches the record's erasures") {
		t.Fatalf("verify: %v\n%s", err, v)
	}

	// An insider with sqlite3 on the key store: one erased case's key put
	// back (an erasure left unfinished), one live case's key destroyed
	// with no erasure recorded. verify names both; replaying the recorded
	// erasures, as serve does at start, finishes the first.
	ctx := context.Background()
	kdb, err := sql.Open("sqlite", "file:"+filepath.Join(data, personalKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	erasedKeys, err := recordedErasures(ctx, data)
	if err != nil || len(erasedKeys) == 0 {
		t.Fatalf("erased cases: %v %v", erasedKeys, err)
	}
	var live string
	if err := kdb.QueryRow(`SELECT subject FROM data_keys LIMIT 1`).Scan(&live); err != nil {
		t.Fatalf("no live key: %v", err)
	}
	for _, q := range []string{
		`INSERT INTO data_keys (subject, wrapped, created_at) VALUES ('` + erasedKeys[0].Subject + `', x'00', 0)`,
		`DELETE FROM data_keys WHERE subject = '` + live + `'`,
		`INSERT INTO destroyed_keys (subject, destroyed_at) VALUES ('` + live + `', 0)`,
	} {
		if _, err := kdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	kdb.Close()
	v, _, err = runArgs(t, nil, "verify", "--data-dir", data)
	if err == nil || !strings.Contains(v, "KEY STORE: the key of "+live+" was destroyed but the record holds no erasure of it") ||
		!strings.Contains(v, "KEY STORE: "+erasedKeys[0].Subject+" is erased in the record but its key is still held") {
		t.Fatalf("verify after the key store was edited: %v\n%s", err, v)
	}
	keys, err := personal.OpenKeys(ctx, filepath.Join(data, personalKeysFile), mustMaster(t, data), "")
	if err != nil {
		t.Fatal(err)
	}
	var told []string
	n, rerr := replayErasures(ctx, keys, erasedKeys, func(subject string) { told = append(told, subject) })
	keys.Close()
	if rerr != nil || n != 1 || len(told) != 1 || told[0] != erasedKeys[0].Subject {
		t.Fatalf("replaying the erasures destroyed %d keys (%v), told %v", n, rerr, told)
	}
	v, _, _ = runArgs(t, nil, "verify", "--data-dir", data)
	if strings.Contains(v, "is erased in the record but its key is still held") {
		t.Fatalf("the unfinished erasure was not finished:\n%s", v)
	}
}

func mustMaster(t *testing.T, data string) []byte {
	t.Helper()
	k, err := personal.LoadMasterKey(filepath.Join(storeConfig{DataDir: data}.keysDir(), "data", personal.MasterKeyFile), false)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRotateMasterKey: after a rotation the old master key opens nothing
// and every value still opens; a rotation stopped after its commit and
// before its rename is finished by the next open.
func TestRotateMasterKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if got, _, err := runArgs(t, nil, "demo", "--cases", "5", "--data-dir", data); err != nil {
		t.Fatalf("demo: %v\n%s", err, got)
	}
	sc := storeConfig{DataDir: data}
	masterPath := filepath.Join(sc.keysDir(), "data", personal.MasterKeyFile)
	old, err := personal.LoadMasterKey(masterPath, false)
	if err != nil {
		t.Fatal(err)
	}
	// A stored value, to open before and after.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var blob string
	err = db.QueryRow(`SELECT CAST(data AS TEXT) FROM events WHERE CAST(data AS TEXT) LIKE '%cl:enc1:%' LIMIT 1`).Scan(&blob)
	db.Close()
	if err != nil {
		t.Fatalf("no encrypted value in the record: %v", err)
	}
	value := regexp.MustCompile(`cl:enc1:[^"]+`).FindString(blob)
	open := func() string {
		t.Helper()
		keys, err := openPersonalKeys(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		defer keys.Close()
		v, err := keys.Decrypt(ctx, value)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := open()

	got, _, err := runArgs(t, nil, "rotate-master-key", "--data-dir", data)
	if err != nil || !strings.Contains(got, "data keys wrapped under a new master key") {
		t.Fatalf("rotate: %v\n%s", err, got)
	}
	if _, err := personal.OpenKeys(ctx, filepath.Join(data, personalKeysFile), old, ""); !errors.Is(err, personal.ErrMasterKey) {
		t.Fatalf("the old master key after the rotation: %v", err)
	}
	if after := open(); after != before {
		t.Fatal("a value reads differently after the rotation")
	}

	// Stopped after the commit, before the rename: the next open finishes.
	current, _ := personal.LoadMasterKey(masterPath, false)
	keys, err := personal.OpenKeys(ctx, filepath.Join(data, personalKeysFile), current, "")
	if err != nil {
		t.Fatal(err)
	}
	next := make([]byte, 32)
	next[0] = 7
	if err := writeSynced(masterPath+".new", []byte(base64.StdEncoding.EncodeToString(next)+"\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.RotateMaster(ctx, next); err != nil {
		t.Fatal(err)
	}
	keys.Close()
	if after := open(); after != before {
		t.Fatal("a value reads differently after an interrupted rotation")
	}
	if _, err := os.Stat(masterPath + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the interrupted rotation was not finished: %v", err)
	}
}

// TestSubjectReport: a person's report holds their own values in clear,
// withholds the case's free text and other people's values and ids,
// leaves an access record for each case read, and after the person's
// erasure shows their values as erased.
func TestSubjectReport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const n = 30
	if got, _, err := runArgs(t, nil, "demo", "--cases", strconv.Itoa(n), "--seed", "1", "--data-dir", data); err != nil {
		t.Fatalf("demo: %v\n%s", err, got)
	}
	cases, err := gen.New(1).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	// A case with a victim who has safe-contact details, another party
	// (the aggressor, say) and a note: the person, a third party, the
	// case's own free text.
	var person, own, third, note string
	var caseID uuid.UUID
	for _, c := range cases {
		var victim, contact, other, text string
		for _, e := range c.Events() {
			switch d := e.Data.(type) {
			case domain.PartyIdentified:
				if len(d.SafeContact) > 0 && len(d.SafeContact[0].Details) >= 8 && e.Meta.Compartment != domain.CompartmentSealed {
					victim, contact = d.PersonID, d.SafeContact[0].Details
				} else if other == "" {
					other = d.PersonID
				}
			case domain.NoteAdded:
				if len(d.Text) >= 12 {
					text = d.Text
				}
			}
		}
		if victim != "" && other != "" && text != "" {
			person, own, third, note, caseID = victim, contact, other, text, c.ID
			break
		}
	}
	if caseID == uuid.Nil {
		t.Fatal("no generated case with a victim's safe contact, another party and a note")
	}
	report := filepath.Join(dir, "report.txt")
	args := []string{"subject-report", "--data-dir", data, "--person", person, "--as", "priv-1", "--purpose", "request SAR-2026-7", "--out", report}
	if got, _, err := runArgs(t, nil, args...); err != nil || !strings.Contains(got, "written to") {
		t.Fatalf("subject-report: %v\n%s", err, got)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, "CASE "+caseID.String()) || !strings.Contains(text, own) {
		t.Fatalf("the report misses the person's case or their own safe contact %q:\n%s", own, text)
	}
	for _, leak := range []string{note, domain.EncryptedPrefix} {
		if strings.Contains(text, leak) {
			t.Fatalf("the report holds %q, which is not the person's:\n%s", leak, text)
		}
	}
	// The other party's report (the aggressor's, say) holds nothing of
	// the victim's.
	got, _, err := runArgs(t, nil, "subject-report", "--data-dir", data, "--person", third, "--as", "priv-1")
	if err != nil || !strings.Contains(got, "CASE "+caseID.String()) || strings.Contains(got, own) || strings.Contains(got, person) || strings.Contains(got, note) {
		t.Fatalf("the third party's report: %v\n%s", err, got)
	}
	for _, c := range cases {
		if c.ID != caseID {
			continue
		}
		for _, e := range c.Events() {
			if d, ok := e.Data.(domain.PartyIdentified); ok && d.PersonID != person && strings.Contains(text, d.PersonID) {
				t.Fatalf("the report names another person, %s:\n%s", d.PersonID, text)
			}
		}
	}
	// At least the other party's identification is counted as not hers.
	if !regexp.MustCompile(`Withheld: \d+ free-text values about the case, \d+ sealed entries; [1-9]\d* entries about others`).MatchString(text) {
		t.Fatalf("the report does not count what it withholds:\n%s", text)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var recorded int
	_ = db.QueryRow(`SELECT count(*) FROM events WHERE instr(CAST(data AS TEXT), '"case_id":"` + caseID.String() + `"') > 0 AND instr(CAST(data AS TEXT), 'subject_access: request SAR-2026-7') > 0`).Scan(&recorded)
	db.Close()
	if recorded != 1 {
		t.Fatalf("%d access records of the report's read of case %s, want 1", recorded, caseID)
	}

	// After the person's erasure, their values read as erased.
	if got, _, err := runArgs(t, nil, "erase", "--data-dir", data, "--person", person, "--reason", "request 2026-116", "--as", "sup-1"); err != nil {
		t.Fatalf("erase --person: %v\n%s", err, got)
	}
	got, _, err = runArgs(t, nil, "subject-report", "--data-dir", data, "--person", person, "--as", "priv-1")
	if err != nil || strings.Contains(got, own) || !strings.Contains(got, "[erased on request on "+time.Now().UTC().Format(time.DateOnly)+"]") {
		t.Fatalf("the report after the person's erasure: %v\n%s", err, got)
	}
	if got, _, err := runArgs(t, nil, "subject-report", "--data-dir", data, "--person", "MNI-NOBODY", "--as", "priv-1"); err != nil || !strings.Contains(got, "no case where person MNI-NOBODY is a party") {
		t.Fatalf("a report on an unknown person: %v\n%s", err, got)
	}

	// An insider with sqlite3 moves a victim's encrypted safe contact into
	// the other party's entry (another case's victim, still held): the
	// other party's report shows neither it nor the case.
	var moved string
	for _, c := range cases {
		for _, e := range c.Events() {
			if d, ok := e.Data.(domain.PartyIdentified); ok && c.ID != caseID && moved == "" && len(d.SafeContact) > 0 {
				moved = e.ID.String()
			}
		}
	}
	db, err = sql.Open("sqlite", "file:"+filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	var cipher string
	if err := db.QueryRow(`SELECT json_extract(data, '$.safe_contact[0].details') FROM events WHERE event_id = ?`, moved).Scan(&cipher); err != nil || !strings.HasPrefix(cipher, domain.EncryptedPrefix) {
		t.Fatalf("the victim's stored safe contact: %q %v", cipher, err)
	}
	for _, q := range []string{
		`DROP TRIGGER events_no_update`,
		`UPDATE events SET data = json_set(data, '$.safe_contact', json_array(json_object('method', 'phone', 'details', '` + cipher + `'))) WHERE type = 'case.party_identified' AND stream = 'case-` + caseID.String() + `' AND json_extract(data, '$.person_id') = '` + third + `'`,
		"CREATE TRIGGER events_no_update BEFORE UPDATE ON events\nBEGIN SELECT RAISE(ABORT, 'caseledger: events are immutable'); END",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	got, _, err = runArgs(t, nil, "subject-report", "--data-dir", data, "--person", third, "--as", "priv-1")
	if err == nil || !strings.Contains(got, "CASE "+caseID.String()+": NOT REPORTED: its chain breaks") || strings.Contains(got, "514-555-") {
		t.Fatalf("the third party's report after an insider moved a value into it: %v\n%s", err, got)
	}
}

// TestKeysCreationRecorded: every data key's creation is in the record
// (access.data_keys_created), and verify names a key removed from the key
// store outside an erasure, and one slipped into it, as an insider with
// sqlite3 would.
func TestKeysCreationRecorded(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if got, _, err := runArgs(t, nil, "demo", "--cases", "30", "--data-dir", data); err != nil {
		t.Fatalf("demo: %v\n%s", err, got)
	}
	edb, err := sql.Open("sqlite", "file:"+filepath.Join(data, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var made int
	_ = edb.QueryRow(`SELECT coalesce(sum(json_array_length(data, '$.subjects')), 0) FROM events WHERE type = 'access.data_keys_created'`).Scan(&made)
	edb.Close()
	kdb, err := sql.Open("sqlite", "file:"+filepath.Join(data, personalKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	defer kdb.Close()
	var held, unrecorded int
	_ = kdb.QueryRow(`SELECT count(*), coalesce(sum(recorded = 0), 0) FROM data_keys`).Scan(&held, &unrecorded)
	if held < 30 || made != held || unrecorded != 0 {
		t.Fatalf("%d keys held, %d not recorded; the record names %d made", held, unrecorded, made)
	}
	if v, _, err := runArgs(t, nil, "verify", "--data-dir", data); err != nil || !strings.Contains(v, "its record of the keys made") {
		t.Fatalf("verify: %v\n%s", err, v)
	}
	// Without its master key, nothing opens the key store, and no new
	// master key is made beside it.
	master := filepath.Join(keysBeside(data), "data", personal.MasterKeyFile)
	if err := os.Rename(master, master+".away"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runArgs(t, nil, "erase", "--data-dir", data, "--person", "MNI-ANY", "--reason", "r", "--as", "sup-1"); err == nil || !strings.Contains(err.Error(), "master key") || !strings.Contains(err.Error(), "is missing and the key store") {
		t.Fatalf("erase without the master key: %v", err)
	}
	if _, err := os.Stat(master); err == nil {
		t.Fatal("a new master key was made beside the key store")
	}
	if err := os.Rename(master+".away", master); err != nil {
		t.Fatal(err)
	}
	// A line added to the erased-subjects list destroys a key at the next
	// open; for a case under a legal hold, verify names it.
	var heldCase string
	_ = edb2(t, data).QueryRow(`SELECT substr(stream, 6) FROM events WHERE type = 'case.legal_hold_placed' LIMIT 1`).Scan(&heldCase)
	if heldCase != "" {
		list := filepath.Join(keysBeside(data), "data", personal.ErasedFile)
		f, err := os.OpenFile(list, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "c%s 2026-12-03T00:00:00Z\n", heldCase)
		f.Close()
		// The next command that opens the key store applies the list.
		if got, _, err := runArgs(t, nil, "subject-report", "--data-dir", data, "--person", "MNI-NOBODY", "--as", "priv-1"); err != nil {
			t.Fatalf("subject-report: %v\n%s", err, got)
		}
		v, _, err := runArgs(t, nil, "verify", "--data-dir", data)
		if err == nil || !strings.Contains(v, "the key of c"+heldCase+" was destroyed from the erased-subjects list alone, while the record holds its case under a legal hold") {
			t.Fatalf("verify after a line was added to the erased list: %v\n%s", err, v)
		}
	} else {
		t.Error("no legal hold in the 30 generated cases: the erased-list check is not played")
	}
	var gone string
	if err := kdb.QueryRow(`SELECT subject FROM data_keys WHERE ? = '' OR subject NOT LIKE ? LIMIT 1`, heldCase, "%"+heldCase+"%").Scan(&gone); err != nil {
		var n int
		_ = kdb.QueryRow(`SELECT count(*) FROM data_keys`).Scan(&n)
		t.Fatalf("%v (%d keys, held case %q)", err, n, heldCase)
	}
	for _, q := range []string{
		`DELETE FROM data_keys WHERE subject = '` + gone + `'`,
		`INSERT INTO data_keys (subject, wrapped, created_at, recorded) VALUES ('c00000000-0000-0000-0000-00000000beef', x'00', 0, 1)`,
	} {
		if _, err := kdb.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	v, _, err := runArgs(t, nil, "verify", "--data-dir", data)
	defer func() {
		// And with the whole key store removed.
		kdb.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(filepath.Join(data, personalKeysFile+suffix))
		}
		if v, _, err := runArgs(t, nil, "verify", "--data-dir", data); err == nil || !strings.Contains(v, "personal-keys.db is missing, and the record holds encrypted personal values") {
			t.Errorf("verify without its key store: %v\n%s", err, v)
		}
	}()
	if err == nil || !strings.Contains(v, "the key of "+gone+" was made (the record says so) but the key store neither holds it nor destroyed it") ||
		!strings.Contains(v, "c00000000-0000-0000-0000-00000000beef is marked as recorded but the record holds no creation of it") {
		t.Fatalf("verify after the key store was edited: %v\n%s", err, v)
	}
}

// edb2 opens the embedded record read-only for the test's queries.
func edb2(t *testing.T, data string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "events.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
