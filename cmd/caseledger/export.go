package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/caseledger/caseledger/services/casefile"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

// runExport writes a case's disclosure bundle: the Merkle log is rebuilt
// from the record, and the signed checkpoints in the record are checked
// against the public key before anything is written.
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("export", getenv, stderr)
	var out, order, pubkey, keyFile string
	var who cliReader
	who.flags(f)
	f.StringVar(&out, "out", "", "directory to write the bundle to (created; must be empty)")
	f.StringVar(&order, "order", "", "a production order recorded on the case: social-work and sealed entries are disclosed under it")
	f.StringVar(&pubkey, "pubkey", getenv("CASELEDGER_LEDGER_PUBKEY"), "the ledger's public key file (default DATA_DIR/ledger/ledger.pub)")
	f.StringVar(&keyFile, "ledger-key", getenv("CASELEDGER_LEDGER_KEY"), "the ledger's signing key, which seals the bundle (default KEYS_DIR/ledger/signing.key; env CASELEDGER_LEDGER_KEY)")
	var caseID, orderID uuid.UUID
	if err := f.parse(args, 1, func() error {
		errs := []error{who.validate()}
		if out == "" {
			errs = append(errs, errors.New("--out DIR is required"))
		}
		if order != "" {
			var err error
			if orderID, err = uuid.Parse(order); err != nil {
				errs = append(errs, errors.New("--order is not a uuid"))
			}
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	caseID, err := uuid.Parse(f.Arg(0))
	if err != nil {
		return fmt.Errorf("%w: CASE_ID is not a uuid", errUsage)
	}
	// The bundle is sealed with the ledger's signing key, which must be the
	// one the pinned public key checks.
	if keyFile == "" {
		keyFile = filepath.Join(ledgerKeyDir(f.store), ledger.SigningKeyFile)
	}
	signing, err := ledger.LoadKeys(keyFile)
	if err != nil {
		return fmt.Errorf("export: the bundle is sealed with the ledger's signing key: %w", err)
	}
	store, tree, keys, err := ledgerFromRecord(ctx, f.store, pubkey)
	if err != nil {
		return err
	}
	defer store.Close()
	if signing.VerifierKey != keys.VerifierKey {
		return fmt.Errorf("export: the signing key %s is not the one the public key checks (%s)", keyFile, keys.VerifierKey)
	}
	keys.Signer = signing.Signer
	if pubkey == "" {
		pubkey = filepath.Join(ledgerKeyDir(f.store), ledger.PublicKeyFile)
	}
	st, recs, err := casefile.Load(ctx, store, caseID)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("case %s: %w in %s", caseID, errNotFound, f.store.where())
	}
	// The bundle holds the access log up to now: this export is in it.
	reader := who.actor(st.Agency)
	if err := who.record(ctx, f.store, reader, caseID, []string{"export"}, orderID, ""); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	// The case's data key goes into the bundle, for its recipient to
	// read what it discloses.
	dataKeys, err := openPersonalKeys(ctx, f.store)
	if err != nil {
		return fmt.Errorf("export: the personal data keys: %w", err)
	}
	defer dataKeys.Close()
	res, err := disclosure.Export(ctx, disclosure.Source{Store: store, Tree: tree, Keys: keys},
		disclosure.Options{CaseID: caseID, OrderID: orderID, Reader: reader, Out: out, Now: time.Now(), DataKeys: dataKeys})
	if errors.Is(err, disclosure.ErrUnknownCase) {
		return fmt.Errorf("case %s: %w in %s", caseID, errNotFound, f.store.where())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bundle of case %s written to %s: %d events disclosed, %d withheld, proven in the signed checkpoint of %d leaves\n",
		caseID, res.Dir, res.Events, res.Withheld, res.Checkpoint.Size)
	fmt.Fprintf(stdout, "scope: %s\n", res.Scope)
	fmt.Fprintf(stdout, "bundle SHA-256 (manifest.json): %s\n", res.ManifestSHA256)
	fmt.Fprintf(stdout, "check it offline: caseverify %s --pubkey %s\n", res.Dir, pubkey)
	return nil
}
