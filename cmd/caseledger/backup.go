package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/google/uuid"
)

// backupManifest is backup.json: what was copied, when, and each file's
// SHA-256, so a restore can tell a damaged backup from a good one.
type backupManifest struct {
	Format  string            `json:"format"`
	TakenAt time.Time         `json:"taken_at"`
	Events  int64             `json:"events"`
	Files   map[string]string `json:"files"` // path → sha256
}

const backupFormat = "caseledger-backup/v1"

// runBackup copies the embedded store and read models while caseledger
// runs: SQLite's VACUUM INTO reads one consistent snapshot of each
// database (the writer goes on meanwhile), and the ledger's key pair goes
// with them (the tree is rebuilt from the record on restore).
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("backup", getenv, stderr)
	var out string
	f.StringVar(&out, "out", "", "directory to write the backup to (created; must be empty)")
	if err := f.parse(args, 0, func() error {
		var errs []error
		if out == "" {
			errs = append(errs, errors.New("--out DIR is required"))
		}
		if f.store.EventStoreURL != "" {
			errs = append(errs, errors.New("backup copies the embedded store; back EventStoreDB/KurrentDB up with its own tools"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return fmt.Errorf("backup: %s exists and is not empty", out)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m := backupManifest{Format: backupFormat, TakenAt: time.Now().UTC(), Files: map[string]string{}}
	src := filepath.Join(f.store.DataDir, "events.db")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no store in %s: %w", f.store.DataDir, err)
	}
	n, err := vacuumInto(ctx, src, filepath.Join(out, "events.db"), "SELECT count(*) FROM events")
	if err != nil {
		return err
	}
	m.Events = n
	m.Files["events.db"] = ""
	if f.store.ReadModelURL == "" {
		if _, err := os.Stat(filepath.Join(f.store.DataDir, "readmodels.db")); err == nil {
			if _, err := vacuumInto(ctx, filepath.Join(f.store.DataDir, "readmodels.db"), filepath.Join(out, "readmodels.db"), ""); err != nil {
				return err
			}
			m.Files["readmodels.db"] = ""
		}
	}
	// The personal data key store: its keys are wrapped by the master key
	// of the keys directory, which is backed up apart. Destroyed keys are
	// not in the snapshot (secure_delete).
	if _, err := os.Stat(filepath.Join(f.store.DataDir, personalKeysFile)); err == nil {
		if _, err := vacuumInto(ctx, filepath.Join(f.store.DataDir, personalKeysFile), filepath.Join(out, personalKeysFile), ""); err != nil {
			return err
		}
		m.Files[personalKeysFile] = ""
	}
	// The ledger's public key, to check the restored log with; never its
	// signing key, which lives in the keys directory and is backed up
	// apart from the data it protects.
	for _, name := range []string{ledger.PublicKeyFile} {
		b, err := os.ReadFile(filepath.Join(ledgerKeyDir(f.store), name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(out, "ledger"), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "ledger", name), b, 0o600); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		m.Files["ledger/"+name] = ""
	}
	for name := range m.Files {
		sum, err := sha256File(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		m.Files[name] = sum
	}
	raw, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "backup.json"), raw, 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d events; restore with: caseledger restore --from %s --data-dir NEW_DIR\n", f.store.DataDir, out, n, out)
	return nil
}

// vacuumInto writes a consistent copy of a SQLite database, and returns
// count's answer on the copy when given.
func vacuumInto(ctx context.Context, src, dst, count string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO '`+strings.ReplaceAll(dst, "'", "''")+`'`); err != nil {
		return 0, fmt.Errorf("backup: copy %s: %w", filepath.Base(src), err)
	}
	if err := os.Chmod(dst, 0o600); err != nil {
		return 0, err
	}
	if count == "" {
		return 0, nil
	}
	cp, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer cp.Close()
	var n int64
	err = cp.QueryRowContext(ctx, count).Scan(&n)
	return n, err
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runRestore puts a backup into an empty data directory, then verifies it
// as an auditor would: every file against backup.json, every chain, and
// the Merkle log rebuilt from the record against every signed checkpoint.
// A backup that fails any check is reported and the command exits non-zero.
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("restore", getenv, stderr)
	var from string
	f.StringVar(&from, "from", "", "the backup directory (from caseledger backup)")
	if err := f.parse(args, 0, func() error {
		if from == "" {
			return errors.New("--from DIR is required")
		}
		return nil
	}); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(from, "backup.json"))
	if err != nil {
		return fmt.Errorf("restore: %s is not a backup: %w", from, err)
	}
	var m backupManifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Format != backupFormat {
		return fmt.Errorf("restore: %s/backup.json is not a %s manifest", from, backupFormat)
	}
	if entries, err := os.ReadDir(f.store.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore: %s is not empty; restore into an empty or new directory", f.store.DataDir)
	}
	if _, ok := m.Files["events.db"]; !ok {
		return fmt.Errorf("restore: %s/backup.json lists no events.db", from)
	}
	for name, want := range m.Files {
		if strings.Contains(name, "..") {
			return fmt.Errorf("restore: backup.json names a file outside the backup: %q", name)
		}
		got, err := sha256File(filepath.Join(from, filepath.FromSlash(name)))
		if err != nil || got != want {
			return fmt.Errorf("restore: %s in the backup is missing or damaged (SHA-256 differs from backup.json)", name)
		}
	}
	if err := os.MkdirAll(f.store.DataDir, 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for name := range m.Files {
		if strings.HasPrefix(name, "ledger/") {
			continue // keys go to the keys directory, not the data directory
		}
		b, err := os.ReadFile(filepath.Join(from, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.store.DataDir, filepath.FromSlash(name)), b, 0o600); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	}
	restored, err := vacuumCount(ctx, filepath.Join(f.store.DataDir, "events.db"))
	if err != nil || restored != m.Events {
		return fmt.Errorf("restore: the restored store holds %d events, the backup says %d", restored, m.Events)
	}
	fmt.Fprintf(stdout, "restored %d files of the backup taken %s into %s (%d events); verifying\n", len(m.Files), m.TakenAt.Format(time.RFC3339), f.store.DataDir, restored)
	if n, err := forgetErasedKeys(ctx, f.store); errors.Is(err, personal.ErrMasterKey) || errors.Is(err, os.ErrNotExist) {
		// The record is verified all the same; its personal values stay
		// sealed until the master key is back.
		fmt.Fprintf(stdout, "WARNING: the keys directory %s has no master key that opens the restored personal data key store: put KEYS_DIR/data/%s back from its own backup (with KEYS_DIR/data/erased-subjects); serve replays the record's erasures when it starts; until then no personal value can be read\n", f.store.keysDir(), personal.MasterKeyFile)
	} else if err != nil {
		return fmt.Errorf("restore: %w", err)
	} else if n > 0 {
		fmt.Fprintf(stdout, "%d erased cases' keys destroyed again in the restored key store\n", n)
	}
	// The restored directory is verified, whatever store the environment
	// names.
	local := func(k string) string {
		if strings.HasPrefix(k, "CASELEDGER_EVENTSTORE_URL") || strings.HasPrefix(k, "CASELEDGER_READMODEL_URL") || k == "CASELEDGER_DATA_DIR" {
			return ""
		}
		return getenv(k)
	}
	// Checked with the public key pinned in the keys directory; a backup's
	// own copy of the key proves only that the backup is self-consistent.
	pubkey := filepath.Join(ledgerKeyDir(f.store), ledger.PublicKeyFile)
	if _, err := os.Stat(pubkey); err != nil {
		if _, ok := m.Files["ledger/"+ledger.PublicKeyFile]; !ok {
			return fmt.Errorf("restore: no ledger public key in %s nor in the backup: give verify one with --pubkey", ledgerKeyDir(f.store))
		}
		pubkey = filepath.Join(from, "ledger", ledger.PublicKeyFile)
		fmt.Fprintf(stdout, "checking the checkpoints with the public key the backup carries (%s): compare it with the one you pinned\n", pubkey)
	}
	return runVerify(ctx, []string{"--data-dir", f.store.DataDir, "--keys-dir", f.store.KeysDir, "--pubkey", pubkey}, local, stdout, stderr)
}

// vacuumCount counts the events of a store file, read-only.
func vacuumCount(ctx context.Context, path string) (int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n)
	return n, err
}

// forgetErasedKeys replays the erasures after a restore: the keys of the
// cases the restored record says were erased, and of the subjects the keys
// directory lists as erased (opening the key store does that), are
// destroyed, so that an older backup resurrects no erased key. It returns
// how many the record named.
func forgetErasedKeys(ctx context.Context, c storeConfig) (int, error) {
	if _, err := os.Stat(filepath.Join(c.DataDir, personalKeysFile)); err != nil {
		return 0, nil
	}
	// The master key must be the one the store was made with: a restore
	// makes none.
	master, err := personal.LoadMasterKey(filepath.Join(c.keysDir(), "data", personal.MasterKeyFile), false)
	if err != nil {
		return 0, err
	}
	keys, err := personal.OpenKeys(ctx, filepath.Join(c.DataDir, personalKeysFile), master, filepath.Join(c.keysDir(), "data", personal.ErasedFile))
	if err != nil {
		return 0, err
	}
	defer keys.Close()
	erased, err := recordedErasures(ctx, c.DataDir)
	if err != nil {
		return 0, err
	}
	_, err = replayErasures(ctx, keys, erased, nil)
	return len(erased), err
}

// recordedErasures lists the keys the erasures the embedded record holds
// destroyed.
func recordedErasures(ctx context.Context, dataDir string) ([]personal.ErasedKey, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "events.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT stream, event_id, type, data, metadata FROM events WHERE type = 'case.personal_data_erased' ORDER BY position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []personal.ErasedKey
	for rows.Next() {
		var stream, id, typ string
		var data, meta []byte
		if err := rows.Scan(&stream, &id, &typ, &data, &meta); err != nil {
			return nil, err
		}
		caseID, err := casefile.CaseID(stream)
		if err != nil {
			continue
		}
		eid, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("%s: event id %q is not a uuid", stream, id)
		}
		ev, err := domain.DecodeStored(eid, caseID, typ, data, meta)
		if err != nil {
			return nil, fmt.Errorf("%s: erasure %s: %w", stream, id, err)
		}
		out = append(out, personal.ErasureKeys(caseID, ev)...)
	}
	return out, rows.Err()
}

// replayErasures destroys the keys recorded erasures left (an erasure
// whose key destruction failed after its event was recorded), telling
// survived of each; it returns how many it destroyed.
func replayErasures(ctx context.Context, keys *personal.Keys, erased []personal.ErasedKey, survived func(subject string)) (int, error) {
	n := 0
	for _, k := range erased {
		held, err := keys.Held(ctx, k.Subject)
		if err != nil {
			return n, err
		}
		if !held {
			continue
		}
		if survived != nil {
			survived(k.Subject)
		}
		if err := keys.Destroy(ctx, k.Subject, k.Note); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
