package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/caseledger/caseledger/services/intake"
)

// runKeygen makes an emitter's signing key: the private key goes to
// DIR/<emitter>.key (readable by its owner only), and the registry entry for
// serve's --emitters file is printed.
func runKeygen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("keygen", getenv, stderr)
	var emitter, out string
	f.StringVar(&emitter, "emitter", "", "the emitting system's id, e.g. cad or shelter-aube")
	f.StringVar(&out, "out", ".", "directory for the private key file")
	if err := f.parse(args, 0, func() error {
		if emitter == "" {
			return errors.New("--emitter is required")
		}
		return nil
	}); err != nil {
		return err
	}
	priv, entry, err := intake.NewKey(emitter)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	path := filepath.Join(out, emitter+".key")
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := file.WriteString(priv + "\n"); err != nil {
		file.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	b, _ := json.Marshal(entry)
	fmt.Fprintf(stderr, "private key written to %s; add this entry to the emitters registry:\n", path)
	fmt.Fprintln(stdout, string(b))
	return nil
}
