package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/nats-io/nats.go/jetstream"
)

// TestWitnessedLedgerCatchesARollback plays adversary D with the stock
// sqlite3 tool against a serve whose checkpoints a separate witness
// process cosigns. Untouched, a bundle verifies with the witness's key.
// Then the insider drops the triggers, deletes the log's last events, every
// checkpoint row and the ledger's files, and restores the triggers: the
// record's own chains and checkpoints no longer show anything, but verify
// --witnesses names the removed leaves, serve refuses to start its ledger,
// and a bundle whose checkpoint no witness cosigned fails caseverify.
func TestWitnessedLedgerCatchesARollback(t *testing.T) {
	bin, _ := binaries(t)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 tool is not installed (scripts/test.sh installs it)")
	}
	root := t.TempDir()
	data, keysDir := filepath.Join(root, "data"), filepath.Join(root, "keys")
	witnessKeys := filepath.Join(root, "witness-keys")
	pub, err := exec.Command(bin, "ledger", "pubkey", "--keys-dir", keysDir, "--data-dir", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	ledgerPub := filepath.Join(root, "ledger.pub")
	os.WriteFile(ledgerPub, pub, 0o644)
	wport := freePort(t)
	w := start(t, bin, "witness", "--dir", filepath.Join(root, "witness-state"), "--keys-dir", witnessKeys, "--data-dir", filepath.Join(root, "witness-data"),
		"--name", "witness.test/w1", "--log-key", ledgerPub, "--listen", "127.0.0.1:"+strconv.Itoa(wport))
	within(t, 20*time.Second, func() bool { return strings.Contains(w.out.String(), "caseledger witness witness.test/w1 on") })
	wkey := regexp.MustCompile(`its key: (\S+)`).FindStringSubmatch(w.out.String())[1]
	wpub := filepath.Join(root, "witness.pub")
	os.WriteFile(wpub, []byte(wkey+"\n"), 0o644)
	cfg, _ := json.Marshal(map[string]any{"quorum": 1, "witnesses": []map[string]string{{"url": "http://127.0.0.1:" + strconv.Itoa(wport), "key": wkey}}})
	witnesses := filepath.Join(root, "witnesses.json")
	os.WriteFile(witnesses, cfg, 0o644)

	natsPort := freePort(t)
	serveArgs := []string{"serve", "--data-dir", data, "--keys-dir", keysDir, "--nats-listen", "127.0.0.1:" + strconv.Itoa(natsPort),
		"--witnesses", witnesses, "--ledger-interval", "1s"}
	serve := start(t, bin, serveArgs...)
	within(t, 30*time.Second, func() bool { return strings.Contains(serve.out.String(), "caseledger serving") })
	if out, err := exec.Command(bin, "emit", "--demo", "4", "--seed", "21", "--nats-url", "nats://127.0.0.1:"+strconv.Itoa(natsPort), "--keys-dir", keysDir).CombinedOutput(); err != nil {
		t.Fatalf("emit: %v\n%s", err, out)
	}
	within(t, 30*time.Second, func() bool { return strings.Contains(serve.out.String(), `"msg":"checkpoint witnessed"`) })
	// The witnessed checkpoint is published on NATS, into a stream no one
	// may purge or delete from.
	nc := connectAs(t, "nats://127.0.0.1:"+strconv.Itoa(natsPort), keysDir, natsbus.RoleOps)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	cps, err := js.Stream(ctx, natsbus.CheckpointsStream)
	if err != nil {
		t.Fatal(err)
	}
	lastMsg, err := cps.GetLastMsgForSubject(ctx, natsbus.CheckpointsSubject)
	if err != nil || !strings.Contains(string(lastMsg.Data), "witness.test/w1") {
		t.Fatalf("the last checkpoint on NATS is not the witnessed one: %v %s", err, lastMsg.Data)
	}
	if err := cps.Purge(ctx); err == nil {
		t.Error("the checkpoint stream was purged")
	}
	if info, err := cps.Info(ctx); err != nil || !info.Config.DenyPurge || !info.Config.DenyDelete {
		t.Errorf("the checkpoint stream allows purge or delete: %v", err)
	}
	nc.Close()
	serve.stop(t)

	// Untouched: a bundle of a case verifies, cosigned by the witness.
	c, _ := gen.New(21).Case()
	bundle := filepath.Join(root, "bundle")
	if out, err := exec.Command(bin, "export", "--as", "aud-1", "--purpose", "disclosure R. v. X", c.ID.String(), "--out", bundle, "--data-dir", data, "--keys-dir", keysDir).CombinedOutput(); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	cv := filepath.Join(root, "caseverify")
	if out, err := exec.Command("go", "build", "-o", cv, "../caseverify").CombinedOutput(); err != nil {
		t.Fatalf("build caseverify: %v\n%s", err, out)
	}
	out, err := exec.Command(cv, bundle, "--pubkey", ledgerPub, "--witness", wpub).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cosigned by 1 of 1 witnesses (witness.test/w1)") {
		t.Fatalf("caseverify with the witness: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "verify", "--data-dir", data, "--keys-dir", keysDir, "--witnesses", witnesses).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "the record extends it") {
		t.Fatalf("verify --witnesses before the rollback: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "ledger", "status", "--data-dir", data, "--keys-dir", keysDir, "--witnesses", witnesses).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "cosigned by witnesses") || !strings.Contains(string(out), "witness witness.test/w1 cosigned") {
		t.Fatalf("ledger status: %v\n%s", err, out)
	}

	// One case rolled back: its last two events deleted (in the middle of
	// the log), every checkpoint row and the ledger's files too, on a copy.
	one := filepath.Join(root, "one-case")
	if err := os.MkdirAll(one, 0o700); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(data, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(one, "events.db"), raw, 0o600)
	if out, err := exec.Command("sqlite3", "-cmd", ".timeout 5000", filepath.Join(one, "events.db"),
		"DROP TRIGGER events_no_delete",
		"DELETE FROM events WHERE position IN (SELECT position FROM events WHERE stream = 'case-"+c.ID.String()+"' ORDER BY version DESC LIMIT 2)",
		"DELETE FROM events WHERE stream = 'ledger-checkpoints'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 on the copy: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "store", "restore-schema", "--data-dir", one, "--keys-dir", keysDir, "--operator", "insider").CombinedOutput(); err != nil {
		t.Fatalf("restore-schema on the copy: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "verify", "--data-dir", one, "--keys-dir", keysDir, "--witnesses", witnesses).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "WITNESS witness.test/w1") {
		t.Fatalf("verify --witnesses after one case was rolled back: %v\n%s", err, out)
	}

	// The insider rolls the whole log back by its last five events, and
	// removes every trace the record and the ledger kept.
	db := filepath.Join(data, "events.db")
	if out, err := exec.Command("sqlite3", "-cmd", ".timeout 5000", db,
		"DROP TRIGGER events_no_delete",
		"DELETE FROM events WHERE position IN (SELECT position FROM events WHERE stream <> 'ledger-checkpoints' ORDER BY position DESC LIMIT 5)",
		"DELETE FROM events WHERE stream = 'ledger-checkpoints'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	os.RemoveAll(filepath.Join(data, "ledger"))
	// And the key store's marks of the keys whose creation the removed
	// events recorded.
	if out, err := exec.Command("sqlite3", "-cmd", ".timeout 5000", filepath.Join(data, personalKeysFile), "UPDATE data_keys SET recorded = 0").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "store", "restore-schema", "--data-dir", data, "--keys-dir", keysDir, "--operator", "insider").CombinedOutput(); err != nil {
		t.Fatalf("restore-schema: %v\n%s", err, out)
	}
	// Without the witnesses, nothing shows.
	if out, err := exec.Command(bin, "verify", "--data-dir", data, "--keys-dir", keysDir).CombinedOutput(); err != nil {
		t.Fatalf("verify without witnesses after the rollback: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "verify", "--data-dir", data, "--keys-dir", keysDir, "--witnesses", witnesses).CombinedOutput()
	if err == nil || !regexp.MustCompile(`WITNESS witness.test/w1: .*cosigned \d+ leaves, the record holds \d+: \d+ were removed`).Match(out) {
		t.Fatalf("verify --witnesses after the rollback: %v\n%s", err, out)
	}
	again := start(t, bin, serveArgs...)
	done := make(chan error, 1)
	go func() { done <- again.cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(again.out.String(), "were removed") {
			t.Fatalf("serve on a rolled-back record: %v\n%s", err, again.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve started its ledger on a rolled-back record:\n%s", again.out.String())
	}
	// A bundle is checked against witnesses who never cosigned it.
	otherKeys := filepath.Join(root, "other-keys")
	other, err := exec.Command(bin, "witness", "pubkey", "--name", "witness.test/w2", "--keys-dir", otherKeys, "--data-dir", filepath.Join(root, "other-data")).Output()
	if err != nil {
		t.Fatal(err)
	}
	otherPub := filepath.Join(root, "other.pub")
	os.WriteFile(otherPub, other, 0o644)
	out, err = exec.Command(cv, bundle, "--pubkey", ledgerPub, "--witness", otherPub).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "carries 0 valid cosignatures of the 1 witnesses given") {
		t.Fatalf("caseverify with a witness that never cosigned: %v\n%s", err, out)
	}
}
