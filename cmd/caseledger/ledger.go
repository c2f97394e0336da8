package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/caseledger/caseledger/services/ledger"
)

// defaultOrigin names a single node's log; a service names its own with
// --ledger-origin (it is also the signing key's name).
const defaultOrigin = "caseledger.local/ledger"

// ledgerDir is where the log's files and key pair live.
func ledgerDir(c storeConfig) string { return filepath.Join(c.DataDir, "ledger") }

// ledgerKeys loads the signing key from keyFile when given, else from the
// data directory, generating it there on first use.
func ledgerKeys(c storeConfig, origin, keyFile string) (ledger.Keys, error) {
	if keyFile != "" {
		return ledger.LoadKeys(keyFile)
	}
	return ledger.LoadOrCreateKeys(ledgerDir(c), origin)
}

// runLedger runs the ledger's subcommands.
func runLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "pubkey" {
		return fmt.Errorf("%w: caseledger ledger pubkey [--ledger-key FILE] [--ledger-origin NAME]", errUsage)
	}
	f := newFlags("ledger pubkey", getenv, stderr)
	origin, keyFile := getenvOr(getenv, "CASELEDGER_LEDGER_ORIGIN", defaultOrigin), getenv("CASELEDGER_LEDGER_KEY")
	f.StringVar(&origin, "ledger-origin", origin, "the log's name, also its key's, when the key is generated (env CASELEDGER_LEDGER_ORIGIN)")
	f.StringVar(&keyFile, "ledger-key", keyFile, "signing key file instead of DATA_DIR/ledger/signing.key (env CASELEDGER_LEDGER_KEY)")
	if err := f.parse(args[1:], 0); err != nil {
		return err
	}
	if keyFile == "" {
		if err := os.MkdirAll(f.store.DataDir, 0o700); err != nil {
			return err
		}
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
