package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/witness"
)

// witnessKey is where a witness's key lives: in the keys directory.
func witnessKey(c storeConfig) string { return filepath.Join(c.keysDir(), "witness", "witness.key") }

// runWitness runs a witness (a role of its own, for another host), or
// prints its public key: caseledger witness pubkey.
func runWitness(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	pubkeyOnly := len(args) > 0 && args[0] == "pubkey"
	if pubkeyOnly {
		args = args[1:]
	}
	f := newFlags("witness", getenv, stderr)
	var dir, listen, name, logKey string
	f.StringVar(&dir, "dir", getenv("CASELEDGER_WITNESS_DIR"), "the witness's state directory, its own (env CASELEDGER_WITNESS_DIR)")
	f.StringVar(&listen, "listen", getenvOr(getenv, "CASELEDGER_WITNESS_LISTEN", "127.0.0.1:7380"), "address to serve add-checkpoint on (env CASELEDGER_WITNESS_LISTEN)")
	f.StringVar(&name, "name", getenv("CASELEDGER_WITNESS_NAME"), "the witness's name when its key is made, e.g. witness.example/w1 (env CASELEDGER_WITNESS_NAME)")
	f.StringVar(&logKey, "log-key", getenv("CASELEDGER_LEDGER_PUBKEY"), "the public key of the log it witnesses (caseledger ledger pubkey; env CASELEDGER_LEDGER_PUBKEY)")
	if err := f.parse(args, 0, func() error {
		var errs []error
		if !pubkeyOnly && dir == "" {
			errs = append(errs, errors.New("--dir DIR is required: the witness keeps its own state"))
		}
		if !pubkeyOnly && logKey == "" {
			errs = append(errs, errors.New("--log-key FILE is required: the log the witness trusts"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	cos, err := witness.LoadOrCreateCosigner(witnessKey(f.store), name)
	if err != nil {
		return err
	}
	if pubkeyOnly {
		fmt.Fprintln(stdout, cos.VerifierKey())
		return nil
	}
	lk, err := ledger.LoadVerifier(logKey)
	if err != nil {
		return err
	}
	w, err := witness.Open(dir, cos, lk.Verifier)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %s cannot be used: %w", errUsage, listen, unwrapOp(err))
	}
	hs := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	fmt.Fprintf(stdout, "caseledger witness %s on http://%s for log %s; its key: %s\n", cos.Name(), ln.Addr(), lk.Verifier.Name(), cos.VerifierKey())
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkWitnesses compares the log rebuilt from the record with every
// witness's latest view, printing one line a witness; it returns an error
// wrapping witness.ErrRolledBack when one saw more, or another root.
func checkWitnesses(ctx context.Context, clients []*witness.Client, keys ledger.Keys, tree *ledger.Log, stdout io.Writer) error {
	var errs []error
	for _, v := range witness.Check(ctx, clients, keys.Verifier, tree.Size(), tree.TreeHash) {
		switch {
		case errors.Is(v.Err, witness.ErrRolledBack):
			fmt.Fprintf(stdout, "WITNESS %s: %v\n", v.Witness, v.Err)
			errs = append(errs, v.Err)
		case v.Err != nil:
			fmt.Fprintf(stdout, "witness %s could not be asked: %v\n", v.Witness, v.Err)
			errs = append(errs, v.Err)
		case v.Size == 0:
			fmt.Fprintf(stdout, "witness %s has cosigned nothing of this log yet\n", v.Witness)
		default:
			fmt.Fprintf(stdout, "witness %s cosigned %d leaves: the record extends it\n", v.Witness, v.Size)
		}
	}
	return errors.Join(errs...)
}
