package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/personal"
	"github.com/caseledger/caseledger/services/witness"
	"golang.org/x/mod/sumdb/note"
)

// logCheckFlags declares and parses what the commands that check the log
// against its key and witnesses take: --pubkey and --witnesses.
func logCheckFlags(f *flags, getenv func(string) string, args []string) (pubkey string, clients []*witness.Client, err error) {
	pubkey = getenv("CASELEDGER_LEDGER_PUBKEY")
	f.StringVar(&pubkey, "pubkey", pubkey, "the ledger's public key file (default KEYS_DIR/ledger/ledger.pub) (env CASELEDGER_LEDGER_PUBKEY)")
	witnesses := getenv("CASELEDGER_WITNESSES")
	f.StringVar(&witnesses, "witnesses", witnesses, "the ledger's witnesses file: the record must extend what each witness cosigned (env CASELEDGER_WITNESSES)")
	if err := f.parse(args, 0); err != nil {
		return "", nil, err
	}
	if witnesses != "" {
		if _, clients, err = witness.LoadConfig(witnesses); err != nil {
			return "", nil, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	return pubkey, clients, nil
}

// errChainBroken is returned by verify when any chain breaks.
var errChainBroken = fmt.Errorf("chain broken")

// errKeyStore is returned by verify when the personal data key store and
// the record disagree.
var errKeyStore = errors.New("the personal data key store does not match the record")

// checkKeyStore compares the key store with the record (no key needed: it
// reads which subjects have keys): a key destroyed with no erasure in the
// record (an insider's, or a forged erased-subjects line), an erasure whose
// key is still held (unfinished: serve finishes it at start), and a case
// whose encrypted values have no key at all (a key row deleted).
//
// A destruction the keys directory's erased-subjects list names is an
// erasure later than this record (a backup restored), not a problem.
func checkKeyStore(ctx context.Context, dataDir, erasedList string) (problems []string, checked bool, err error) {
	path := filepath.Join(dataDir, personalKeysFile)
	if _, err := os.Stat(path); err != nil {
		// No key store: fine for a record that never encrypted anything;
		// otherwise every personal value is lost without an erasure.
		edb, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "events.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return nil, false, err
		}
		defer edb.Close()
		var n int
		if err := edb.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM events WHERE type = 'access.data_keys_created' OR instr(CAST(data AS TEXT), 'cl:enc1:') > 0 LIMIT 1)`).Scan(&n); err != nil {
			return nil, false, err
		}
		if n > 0 {
			return []string{fmt.Sprintf("the key store %s is missing, and the record holds encrypted personal values (or keys made): they are unreadable, and no erasure says so", path)}, true, nil
		}
		return nil, false, nil
	}
	erased, err := recordedErasures(ctx, dataDir)
	if err != nil {
		return nil, false, err
	}
	isErased := map[string]bool{}
	for _, k := range erased {
		isErased[k.Subject] = true
	}
	kdb, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, false, err
	}
	defer kdb.Close()
	subjects := func(q string) (map[string]bool, error) {
		rows, err := kdb.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			out[s] = true
		}
		return out, rows.Err()
	}
	held, err := subjects(`SELECT subject FROM data_keys`)
	if err != nil {
		return nil, false, fmt.Errorf("key store: %w", err)
	}
	destroyed, err := subjects(`SELECT subject FROM destroyed_keys`)
	if err != nil {
		return nil, false, fmt.Errorf("key store: %w", err)
	}
	listed := map[string]bool{}
	if b, err := os.ReadFile(erasedList); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if subject, _, _ := strings.Cut(strings.TrimSpace(line), " "); subject != "" {
				listed[subject] = true
			}
		}
	}
	for s := range destroyed {
		if !isErased[s] && !held[s] && !listed[s] {
			problems = append(problems, fmt.Sprintf("the key of %s was destroyed but the record holds no erasure of it", s))
		}
	}

	for s := range isErased {
		if held[s] {
			problems = append(problems, fmt.Sprintf("%s is erased in the record but its key is still held (serve destroys it at start; or run erase again)", s))
		}
	}
	edb, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "events.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, false, err
	}
	defer edb.Close()
	// A destruction the erased list alone names (an erasure later than a
	// restored record) is taken on trust, but not for a case the record
	// holds under a legal hold: no erasure could have been recorded then.
	onHold, err := heldCases(ctx, edb)
	if err != nil {
		return nil, false, err
	}
	for s := range destroyed {
		if !isErased[s] && listed[s] && onHold[caseOfSubject(s)] {
			problems = append(problems, fmt.Sprintf("the key of %s was destroyed from the erased-subjects list alone, while the record holds its case under a legal hold", s))
		}
	}
	// Every key's creation is in the record (access.data_keys_created): a
	// key the record says was made that the store neither holds nor
	// destroyed was removed outside any erasure; a key marked recorded that
	// the record does not name was put there by hand. A key not yet
	// recorded (serve records them every two seconds) is neither.
	made := map[string]bool{}
	mrows, err := edb.QueryContext(ctx, `SELECT data FROM events WHERE type = 'access.data_keys_created'`)
	if err != nil {
		return nil, false, err
	}
	for mrows.Next() {
		var data []byte
		var d domain.DataKeysCreated
		if err := mrows.Scan(&data); err != nil {
			mrows.Close()
			return nil, false, err
		}
		if err := json.Unmarshal(data, &d); err != nil {
			mrows.Close()
			return nil, false, fmt.Errorf("a record of data keys made does not decode: %w", err)
		}
		for _, s := range d.Subjects {
			made[s] = true
		}
	}
	mrows.Close()
	recorded, err := subjects(`SELECT subject FROM data_keys WHERE recorded = 1`)
	if err != nil && strings.Contains(err.Error(), "no such column") {
		recorded, err = nil, nil // a key store from before keys were recorded
	}
	if err != nil {
		return nil, false, fmt.Errorf("key store: %w", err)
	}
	for s := range made {
		if !held[s] && !destroyed[s] {
			problems = append(problems, fmt.Sprintf("the key of %s was made (the record says so) but the key store neither holds it nor destroyed it", s))
		}
	}
	for s := range recorded {
		if !made[s] {
			problems = append(problems, fmt.Sprintf("the key of %s is marked as recorded but the record holds no creation of it", s))
		}
	}
	rows, err := edb.QueryContext(ctx, `SELECT stream, data FROM events WHERE instr(CAST(data AS TEXT), 'cl:enc1:') > 0`)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	reported := map[string]bool{}
	for rows.Next() {
		var stream string
		var data []byte
		if err := rows.Scan(&stream, &data); err != nil {
			return nil, false, err
		}
		for _, s := range personal.SubjectsIn(data) {
			if !held[s] && !destroyed[s] && !reported[s] {
				reported[s] = true
				problems = append(problems, fmt.Sprintf("%s (%s) holds values encrypted under %s and the key store has no key for it, nor its destruction", stream, "personal data", s))
			}
		}
	}
	slices.Sort(problems)
	return problems, true, rows.Err()
}

// errSchemaAltered is returned by verify when the embedded store's schema
// (its immutability triggers, its unique indexes) was altered.
var errSchemaAltered = errors.New("the event store's schema was altered")

// runVerify walks the whole global log once, checking every stream's chain
// incrementally and rebuilding the Merkle log, names each stream and
// version where a chain breaks, and checks every signed checkpoint (its
// signature, and its root against the rebuilt log).
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("verify", getenv, stderr)
	pubkey, clients, err := logCheckFlags(f, getenv, args)
	if err != nil {
		return err
	}
	store, err := openReader(ctx, f.store)
	if err != nil {
		return err
	}
	defer store.Close()
	writers, err := localWriters(f.store)
	if err != nil {
		return err
	}
	start := time.Now()
	v, tree, wrep, err := verifyWriters(ctx, store, writers)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "verified %d events in %d streams of %s in %s (%.0f events/s)\n",
		v.Events, v.Streams, f.store.where(), elapsed.Round(time.Millisecond), float64(v.Events)/max(elapsed.Seconds(), 1e-9))
	var errs []error
	if len(v.Breaks) == 0 {
		fmt.Fprintln(stdout, "every chain holds")
	} else {
		for _, b := range v.Breaks {
			fmt.Fprintf(stdout, "BROKEN %s at version %d: %s\n", b.Stream, b.Version, b.Reason)
		}
		errs = append(errs, fmt.Errorf("%w in %d streams", errChainBroken, len(v.Breaks)))
	}
	switch {
	case len(writers) == 0:
		fmt.Fprintf(stdout, "writer signatures not checked: no writer key in %s\n", writerKeyDir(f.store))
	case !wrep.checked:
		fmt.Fprintln(stdout, "writer signatures not checked: the record began before writer signatures")
	case wrep.bad == 0:
		fmt.Fprintln(stdout, "every event is signed by a registered writer")
	default:
		for _, msg := range wrep.failures {
			fmt.Fprintf(stdout, "UNSIGNED %s\n", msg)
		}
		errs = append(errs, fmt.Errorf("%w: %d", errUnsigned, wrep.bad))
	}
	// The embedded store's schema backs its invariants: one an insider
	// altered (a trigger dropped to rewrite a row) is reported.
	if ic, ok := store.(interface {
		Integrity(context.Context) ([]string, error)
	}); ok {
		problems, err := ic.Integrity(ctx)
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintf(stdout, "SCHEMA ALTERED: %s\n", p)
		}
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("%w: %d differences (see caseledger store restore-schema)", errSchemaAltered, len(problems)))
		}
	}
	if f.store.EventStoreURL == "" {
		problems, checked, err := checkKeyStore(ctx, f.store.DataDir, filepath.Join(f.store.keysDir(), "data", personal.ErasedFile))
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintf(stdout, "KEY STORE: %s\n", p)
		}
		switch {
		case len(problems) > 0:
			errs = append(errs, fmt.Errorf("%w: %d", errKeyStore, len(problems)))
		case checked:
			fmt.Fprintln(stdout, "the personal data key store matches the record's erasures and its record of the keys made")
		}
	}
	root, _ := tree.Root()
	fmt.Fprintf(stdout, "Merkle log rebuilt: %d leaves, root %s\n", tree.Size(), root)
	if err := checkCheckpoints(ctx, store, tree, pubkey, f.store, stdout); err != nil {
		errs = append(errs, err)
	}
	if len(clients) > 0 {
		keys, err := ledger.LoadVerifier(cmp.Or(pubkey, filepath.Join(ledgerKeyDir(f.store), ledger.PublicKeyFile)))
		if err != nil {
			return err
		}
		if err := checkWitnesses(ctx, clients, keys, tree, stdout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkCheckpoints checks every signed checkpoint in the record against
// the public key and the rebuilt log.
func checkCheckpoints(ctx context.Context, store eventstore.Reader, tree *ledger.Log, pubkey string, c storeConfig, stdout io.Writer) error {
	if pubkey == "" {
		pubkey = filepath.Join(ledgerKeyDir(c), ledger.PublicKeyFile)
		if _, err := os.Stat(pubkey); err != nil {
			n, err := store.ReadStream(ctx, ledger.CheckpointStream, 0, 1)
			if err == nil && len(n) == 0 {
				fmt.Fprintln(stdout, "no signed checkpoint in the record yet")
				return nil
			}
			return fmt.Errorf("%w: checkpoints are in the record but no public key was given (--pubkey FILE)", errLedger)
		}
	}
	keys, err := ledger.LoadVerifier(pubkey)
	if err != nil {
		return err
	}
	cps, err := ledger.ReadCheckpoints(ctx, store, keys)
	if err != nil {
		fmt.Fprintf(stdout, "CHECKPOINT FAILS: %v\n", err)
		return fmt.Errorf("%w: %v", errLedger, err)
	}
	for _, cp := range cps {
		root, err := tree.TreeHash(cp.Size)
		if err != nil || root != cp.Root {
			fmt.Fprintf(stdout, "CHECKPOINT FAILS: signed at %d leaves with root %s; the record gives %s\n", cp.Size, cp.Root, root)
			return fmt.Errorf("%w at size %d", errLedger, cp.Size)
		}
	}
	if len(cps) == 0 {
		fmt.Fprintln(stdout, "no signed checkpoint in the record yet")
		return nil
	}
	last := cps[len(cps)-1]
	fmt.Fprintf(stdout, "%d signed checkpoints match the record (key %s); the last covers %d of %d leaves\n", len(cps), keys.VerifierKey, last.Size, tree.Size())
	return nil
}

// verifyAll feeds the global log through a chain verifier and into a
// Merkle log rebuilt in memory, in one pass.
func verifyAll(ctx context.Context, store eventstore.Reader) (*eventstore.Verifier, *ledger.Log, error) {
	v, tree, _, err := verifyWriters(ctx, store, nil)
	return v, tree, err
}

// verifyWriters walks the log once, checking every chain, rebuilding the
// Merkle log and, when writers are given and the record signs from its
// first event, every event's writer signature; it returns each event a
// registered writer did not sign (at most 100 of them, and their count).
func verifyWriters(ctx context.Context, store eventstore.Reader, writers []note.Verifier) (*eventstore.Verifier, *ledger.Log, writerReport, error) {
	v := eventstore.NewVerifier()
	tree := ledger.NewMemory()
	var rep writerReport
	if len(writers) > 0 {
		signs, err := ledger.SignsFromStart(ctx, store)
		if err != nil {
			return nil, nil, rep, fmt.Errorf("verify: %w", err)
		}
		rep.checked = signs
	}
	_, err := tree.CatchUp(ctx, store, func(page []eventstore.Record) error {
		for _, r := range page {
			v.Add(r)
			if rep.checked {
				if err := ledger.CheckWriter(r, writers); err != nil {
					rep.bad++
					if len(rep.failures) < 100 {
						rep.failures = append(rep.failures, err.Error())
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, rep, fmt.Errorf("verify: %w", err)
	}
	return v, tree, rep, nil
}

// writerReport is what verify found of the writer signatures.
type writerReport struct {
	checked  bool // the record signs from its first event, and writers were given
	bad      int
	failures []string
}

// errUnsigned is returned by verify when events are not signed by a
// registered writer.
var errUnsigned = errors.New("events not signed by a registered writer")

// heldCases lists the case ids ("case-<uuid>" streams' uuids) with a legal
// hold placed and not released.
func heldCases(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT p.stream FROM events p WHERE p.type = 'case.legal_hold_placed'
		AND NOT EXISTS (SELECT 1 FROM events r WHERE r.stream = p.stream AND r.type = 'case.legal_hold_released'
			AND json_extract(r.data, '$.hold_id') = json_extract(p.data, '$.hold_id'))`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var stream string
		if err := rows.Scan(&stream); err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(stream, "case-")] = true
	}
	return out, rows.Err()
}

// caseOfSubject is the case id of a data key's subject ("c<case>" or
// "p<case>.<party>").
func caseOfSubject(subject string) string {
	if len(subject) < 37 {
		return ""
	}
	return subject[1:37]
}
