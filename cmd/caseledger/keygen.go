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
	"github.com/caseledger/caseledger/services/natsbus"
)

// runKeygen makes an emitter's signing key: the private key goes to
// DIR/<emitter>.key (readable by its owner only), and the registry entry for
// serve's --emitters file is printed.
func runKeygen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("keygen", getenv, stderr)
	var emitter, natsUser, natsRole, out string
	f.StringVar(&emitter, "emitter", "", "the emitting system's id, e.g. cad or shelter-aube")
	f.StringVar(&natsUser, "nats-user", "", "instead, make a NATS identity (NKey) of this name, for serve --nats-users")
	f.StringVar(&natsRole, "role", natsbus.RoleEmitter, "the NATS identity's role: emitter, ingest, relay, ledger, reader or all")
	f.StringVar(&out, "out", ".", "directory for the private key file")
	if err := f.parse(args, 0, func() error {
		if (emitter == "") == (natsUser == "") {
			return errors.New("give --emitter ID or --nats-user NAME")
		}
		if natsUser != "" {
			if _, err := natsbus.Permissions(natsRole); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if natsUser != "" {
		seed, public, err := natsbus.NewUserKey()
		if err != nil {
			return err
		}
		path := filepath.Join(out, natsUser+".nk")
		if err := writeSecret(path, string(seed)+"\n"); err != nil {
			return err
		}
		b, _ := json.Marshal(natsbus.User{Name: natsUser, NKey: public, Role: natsRole})
		fmt.Fprintf(stderr, "NKey seed written to %s (give it with --nkey or --nats-nkey); add this entry to the NATS users file:\n", path)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	priv, entry, err := intake.NewKey(emitter)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	path := filepath.Join(out, emitter+".key")
	if err := writeSecret(path, priv+"\n"); err != nil {
		return err
	}
	b, _ := json.Marshal(entry)
	fmt.Fprintf(stderr, "private key written to %s; add this entry to the emitters registry:\n", path)
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
