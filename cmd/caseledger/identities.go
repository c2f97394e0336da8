package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
)

// The local emitter: the signing key a single node makes on first start so
// that `caseledger emit` works as the README shows, registered in
// KEYS_DIR/emitters/registry.json for any source system and agency (it is
// the operator's own tool; production emitters get their own entries,
// narrowed to their systems and agencies).
const localEmitterName = "local"

func emittersDir(keysDir string) string { return filepath.Join(keysDir, "emitters") }

// localEmitter loads the default emitters registry, making it with the
// local emitter's key on first use.
func localEmitter(keysDir string) (*intake.Registry, string, error) {
	dir := emittersDir(keysDir)
	registry := filepath.Join(dir, "registry.json")
	if _, err := os.Stat(registry); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", fmt.Errorf("emitters directory: %w", err)
		}
		priv, entry, err := intake.NewKey(localEmitterName, "*")
		if err != nil {
			return nil, "", err
		}
		entry.SourceSystems = []string{"*"}
		if err := writeSecret(filepath.Join(dir, localEmitterName+".key"), priv+"\n"); err != nil {
			return nil, "", err
		}
		b, _ := json.MarshalIndent([]intake.RegistryEntry{entry}, "", "  ")
		if err := writeSecret(registry, string(b)+"\n"); err != nil {
			return nil, "", err
		}
	}
	r, err := intake.LoadRegistry(registry)
	return r, registry, err
}

// defaultCreds is the creds file a process of one role finds in the keys
// directory when NATS is external and no --nats-creds is given ("" when
// there is none).
func defaultCreds(keysDir, role string) string {
	nr := map[string]string{"ingest": natsbus.RoleIngest, "relay": natsbus.RoleRelay, "ledger": natsbus.RoleLedger,
		"project": natsbus.RoleService, "api": natsbus.RoleService}[role]
	if nr == "" {
		return ""
	}
	p := filepath.Join(keysDir, natsbus.AuthorityDir, nr+".creds")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// runCreds issues and revokes NATS identities of the keys directory's
// authority.
func runCreds(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	usage := fmt.Errorf("%w: caseledger creds issue ROLE NAME [--expires DURATION] | creds revoke FILE | creds list", errUsage)
	if len(args) == 0 {
		return usage
	}
	f := newFlags("creds "+args[0], getenv, stderr)
	var expires time.Duration
	if args[0] == "issue" {
		f.DurationVar(&expires, "expires", 0, "how long the identity is valid (default: until revoked)")
	}
	var nargs int
	switch args[0] {
	case "issue":
		nargs = 2
	case "revoke":
		nargs = 1
	case "list":
	default:
		return usage
	}
	if err := f.parseRange(args[1:], nargs, nargs, func() error {
		if expires < 0 {
			return errors.New("--expires must be positive")
		}
		return nil
	}); err != nil {
		return err
	}
	auth, err := openAuthority(f, stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "issue":
		role, name := f.Arg(0), f.Arg(1)
		creds, _, err := auth.Issue(role, name, expires)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		path := filepath.Join(auth.Dir(), name+".creds")
		if err := writeSecret(path, string(creds)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", path)
		fmt.Fprintf(stderr, "identity %s (%s) written; with the nats CLI: nats --creds %s --inbox-prefix %s …\n", name, role, path, natsbus.InboxPrefix(name))
	case "revoke":
		name, err := auth.Revoke(f.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s: a running serve closes its connections within seconds; regenerate natsconf for an external cluster\n", name)
	case "list":
		ids, err := auth.Identities()
		if err != nil {
			return err
		}
		for _, id := range ids {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", id.Name, id.Role, id.Creds)
		}
	}
	return nil
}

// openAuthority opens the keys directory's NATS authority for a command,
// saying which creds files it wrote on first use.
func openAuthority(f *flags, stderr io.Writer) (*natsbus.Authority, error) {
	auth, created, err := natsbus.OpenAuthority(f.store.keysDir())
	if err != nil {
		return nil, err
	}
	for _, p := range created {
		fmt.Fprintf(stderr, "wrote %s\n", p)
	}
	return auth, nil
}
