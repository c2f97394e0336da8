package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/caseledger/caseledger/services/intake"
)

// runKeygen makes an emitter's signing key: the private key goes to
// DIR/<emitter>.key (readable by its owner only), and the registry entry for
// serve's emitters registry is printed, registered for its own name as
// source system and for the agencies given.
func runKeygen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("keygen", getenv, stderr)
	var emitter, agencies, out string
	f.StringVar(&emitter, "emitter", "", "the emitting system's id, e.g. cad or shelter-aube")
	f.StringVar(&agencies, "agencies", "", "comma-separated agencies the emitter acts for, e.g. police-lavallee (\"*\" for any)")
	f.StringVar(&out, "out", ".", "directory for the private key file")
	if err := f.parse(args, 0, func() error {
		var errs []error
		if emitter == "" {
			errs = append(errs, errors.New("give --emitter ID (NATS identities: caseledger creds issue)"))
		}
		if agencies == "" {
			errs = append(errs, errors.New("give --agencies: the agencies this emitter acts for"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	priv, entry, err := intake.NewKey(emitter, strings.Split(agencies, ",")...)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	path := filepath.Join(out, emitter+".key")
	if err := writeSecret(path, priv+"\n"); err != nil {
		return err
	}
	b, _ := json.Marshal(entry)
	fmt.Fprintf(stderr, "private key written to %s; add this entry to the emitters registry (KEYS_DIR/emitters/registry.json or serve --emitters):\n", path)
	fmt.Fprintln(stdout, string(b))
	return nil
}

// writeSecret writes a new file readable by its owner only.
func writeSecret(path, content string) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := file.WriteString(content); err != nil {
		file.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}
