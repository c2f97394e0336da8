package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/caseledger/caseledger/services/ledger"
	"golang.org/x/mod/sumdb/note"
)

// defaultOrigin names a single node's log; a service names its own with
// --ledger-origin (it is also the signing key's name).
const defaultOrigin = "caseledger.local/ledger"

// ledgerDir is where the log's own files (its tree) live, in the data
// directory.
func ledgerDir(c storeConfig) string { return filepath.Join(c.DataDir, "ledger") }

// ledgerKeyDir is where the ledger's key pair lives: in the keys directory,
// apart from the data directory it protects.
func ledgerKeyDir(c storeConfig) string { return filepath.Join(c.keysDir(), "ledger") }

// writerOrigin names the writer key caseledger makes.
const writerOrigin = "caseledger.local/writer"

// writerKeyDir holds the writer key pair (signing.key, and its public key
// as ledger.pub): in the keys directory.
func writerKeyDir(c storeConfig) string { return filepath.Join(c.keysDir(), "writer") }

// writerKeys loads the writer key that signs every append of this
// process, making it on first use.
func writerKeys(c storeConfig) (ledger.Keys, error) {
	if c.WriterKey != "" {
		return ledger.LoadKeys(c.WriterKey)
	}
	return ledger.LoadOrCreateKeys(writerKeyDir(c), writerOrigin)
}

// localWriters is the writer public key of the keys directory, if any: what
// verify and the single-node ledger check appends against.
func localWriters(c storeConfig) ([]note.Verifier, error) {
	if c.WriterKey != "" {
		k, err := ledger.LoadKeys(c.WriterKey)
		if err != nil {
			return nil, err
		}
		return []note.Verifier{k.Verifier}, nil
	}
	path := filepath.Join(writerKeyDir(c), ledger.PublicKeyFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	k, err := ledger.LoadVerifier(path)
	if err != nil {
		return nil, err
	}
	return []note.Verifier{k.Verifier}, nil
}

// errKeyInDataDir is returned when a ledger key is found where earlier
// versions made it, in the data directory.
var errKeyInDataDir = errors.New("the ledger's signing key is in the data directory it protects")

// ledgerKeys loads the signing key from keyFile when given, else from the
// keys directory, generating it there on first use. A key left in the data
// directory by an earlier version is refused with the command that moves it.
func ledgerKeys(c storeConfig, origin, keyFile string) (ledger.Keys, error) {
	if keyFile != "" {
		return ledger.LoadKeys(keyFile)
	}
	old := filepath.Join(ledgerDir(c), ledger.SigningKeyFile)
	if _, err := os.Stat(old); err == nil {
		if _, err := os.Stat(filepath.Join(ledgerKeyDir(c), ledger.SigningKeyFile)); errors.Is(err, os.ErrNotExist) {
			return ledger.Keys{}, fmt.Errorf("%w (%s): move it and its public key to the keys directory: mkdir -p %s && mv %s %s %s/",
				errKeyInDataDir, old, ledgerKeyDir(c), old, filepath.Join(ledgerDir(c), ledger.PublicKeyFile), ledgerKeyDir(c))
		}
	}
	return ledger.LoadOrCreateKeys(ledgerKeyDir(c), origin)
}

// runLedger runs the ledger's subcommands.
func runLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "prove" || args[0] == "consistency") {
		return runProve(ctx, args, getenv, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "status" {
		return runLedgerStatus(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "pubkey" {
		return fmt.Errorf("%w: caseledger ledger pubkey | status [--witnesses FILE] | prove EVENT_ID | consistency SIZE SIZE", errUsage)
	}
	f := newFlags("ledger pubkey", getenv, stderr)
	origin, keyFile := getenvOr(getenv, "CASELEDGER_LEDGER_ORIGIN", defaultOrigin), getenv("CASELEDGER_LEDGER_KEY")
	f.StringVar(&origin, "ledger-origin", origin, "the log's name, also its key's, when the key is generated (env CASELEDGER_LEDGER_ORIGIN)")
	f.StringVar(&keyFile, "ledger-key", keyFile, "signing key file instead of KEYS_DIR/ledger/signing.key (env CASELEDGER_LEDGER_KEY)")
	if err := f.parse(args[1:], 0); err != nil {
		return err
	}
	k, err := ledgerKeys(f.store, origin, keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.VerifierKey)
	return nil
}

func getenvOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// errLedger is returned by verify when the log and its checkpoints
// disagree.
var errLedger = errors.New("ledger does not match its signed checkpoints")

// runProve prints, as JSON, the inclusion proof of an event in the newest
// signed checkpoint (prove EVENT_ID), or the consistency proof between two
// signed checkpoints given by their sizes (consistency OLD NEW), from the
// Merkle log rebuilt from the record and checked against the checkpoints.
func runProve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("ledger "+args[0], getenv, stderr)
	pubkey := getenv("CASELEDGER_LEDGER_PUBKEY")
	f.StringVar(&pubkey, "pubkey", pubkey, "the ledger's public key file (default DATA_DIR/ledger/ledger.pub)")
	want := 1
	var who cliReader
	validators := []func() error{}
	if args[0] == "consistency" {
		want = 2
	} else {
		// An inclusion proof is asked about one event: who asked and why
		// is recorded. A consistency proof concerns the log as a whole.
		who.flags(f)
		validators = append(validators, func() error { return who.validate() })
	}
	if err := f.parse(args[1:], want, validators...); err != nil {
		return err
	}
	store, tree, keys, err := ledgerFromRecord(ctx, f.store, pubkey)
	if err != nil {
		return err
	}
	defer store.Close()
	cps, err := ledger.ReadCheckpoints(ctx, store, keys)
	if err != nil {
		return err
	}
	bySize := map[int64]ledger.Stored{}
	for _, c := range cps {
		if root, err := tree.TreeHash(c.Size); err != nil || root != c.Root {
			return fmt.Errorf("%w at size %d", errLedger, c.Size)
		}
		bySize[c.Size] = c
	}
	if len(cps) == 0 {
		return errors.New("ledger: no signed checkpoint in the record yet")
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if args[0] == "prove" {
		id, err := uuid.Parse(f.Arg(0))
		if err != nil {
			return fmt.Errorf("%w: EVENT_ID is not a uuid", errUsage)
		}
		n, ok := tree.Index(id)
		last := cps[len(cps)-1]
		if !ok || n >= last.Size {
			return fmt.Errorf("ledger: event %s is not under the newest signed checkpoint (%d leaves)", id, last.Size)
		}
		proof, err := tree.ProveRecord(n, last.Size)
		if err != nil {
			return err
		}
		if err := recordProof(ctx, f.store, who, id); err != nil {
			return fmt.Errorf("ledger prove: %w", err)
		}
		return enc.Encode(map[string]any{"event_id": id, "leaf_index": n, "tree_size": last.Size, "root": last.Root, "proof": proof, "checkpoint": string(last.Note)})
	}
	var sizes [2]int64
	for i := range sizes {
		n, err := strconv.ParseInt(f.Arg(i), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: %q is not a checkpoint size", errUsage, f.Arg(i))
		}
		if _, ok := bySize[n]; !ok {
			return fmt.Errorf("ledger: no signed checkpoint of %d leaves", n)
		}
		sizes[i] = n
	}
	if sizes[0] > sizes[1] {
		sizes[0], sizes[1] = sizes[1], sizes[0]
	}
	proof, err := tree.ProveTree(sizes[0], sizes[1])
	if err != nil {
		return err
	}
	return enc.Encode(map[string]any{"old_size": sizes[0], "new_size": sizes[1], "old_root": bySize[sizes[0]].Root, "new_root": bySize[sizes[1]].Root,
		"proof": proof, "old_checkpoint": string(bySize[sizes[0]].Note), "new_checkpoint": string(bySize[sizes[1]].Note)})
}

// ledgerFromRecord opens the record read-only, rebuilds the Merkle log from
// it in memory, and loads the public key (pubkey, or the data directory's
// ledger.pub) that checks its checkpoints: what export and the proofs read.
func ledgerFromRecord(ctx context.Context, c storeConfig, pubkey string) (eventstore.Reader, *ledger.Log, ledger.Keys, error) {
	if pubkey == "" {
		pubkey = filepath.Join(ledgerKeyDir(c), ledger.PublicKeyFile)
	}
	keys, err := ledger.LoadVerifier(pubkey)
	if err != nil {
		return nil, nil, ledger.Keys{}, err
	}
	store, err := openReader(ctx, c)
	if err != nil {
		return nil, nil, ledger.Keys{}, err
	}
	tree := ledger.NewMemory()
	if _, err := tree.CatchUp(ctx, store, nil); err != nil {
		store.Close()
		return nil, nil, ledger.Keys{}, err
	}
	return store, tree, keys, nil
}

// runLedgerStatus prints the log as rebuilt from the record, its last
// signed checkpoint (and whether witnesses cosigned it), and, with
// --witnesses, each witness's latest view against the record.
func runLedgerStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("ledger status", getenv, stderr)
	pubkey, clients, err := logCheckFlags(f, getenv, args)
	if err != nil {
		return err
	}
	store, tree, keys, err := ledgerFromRecord(ctx, f.store, pubkey)
	if err != nil {
		return err
	}
	defer store.Close()
	root, _ := tree.Root()
	fmt.Fprintf(stdout, "log %s rebuilt from the record: %d leaves, root %s\n", keys.Verifier.Name(), tree.Size(), root)
	cps, err := ledger.ReadCheckpoints(ctx, store, keys)
	if err != nil {
		return err
	}
	if len(cps) == 0 {
		fmt.Fprintln(stdout, "no signed checkpoint in the record yet")
	} else {
		last := cps[len(cps)-1]
		witnessed := "not cosigned by witnesses"
		if last.Cosigned {
			witnessed = "cosigned by witnesses"
		}
		fmt.Fprintf(stdout, "last signed checkpoint: %d leaves, root %s, %s (%d checkpoints in all)\n", last.Size, last.Root, witnessed, len(cps))
	}
	if len(clients) == 0 {
		return nil
	}
	return checkWitnesses(ctx, clients, keys, tree, stdout)
}
