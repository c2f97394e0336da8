package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caseledger/caseledger/services/intake/schema"
)

// modulePath names the repository whose root `caseledger schemas` writes to
// by default.
const modulePath = "github.com/caseledger/caseledger"

// runSchemas writes caseledger's NATS contract, generated from the Go types
// (docs/asyncapi.yaml and the JSON Schema files under docs/schemas), under
// --out: by default the root of the repository the working directory is in.
// A file whose bytes have not changed is left alone; a command or event
// schema file that is no longer generated is removed.
func runSchemas(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := flag.NewFlagSet("caseledger schemas", flag.ContinueOnError)
	f.SetOutput(stderr)
	out := f.String("out", "", "directory to write docs/… under (default: the repository root)")
	if err := f.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, f.Arg(0))
	}
	dir := *out
	if dir == "" {
		root, err := repositoryRoot()
		if err != nil {
			return err
		}
		dir = root
	}
	files, err := schema.Generate()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	changed := 0
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
		fmt.Fprintln(stdout, "wrote", name)
		changed++
	}
	removed := 0
	for _, sub := range []string{schema.CommandSchemaDir, schema.EventSchemaDir} {
		entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(sub)))
		if err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
		for _, e := range entries {
			name := path.Join(sub, e.Name())
			if _, ok := files[name]; ok || e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				return fmt.Errorf("schemas: %w", err)
			}
			fmt.Fprintln(stdout, "removed", name)
			removed++
		}
	}
	fmt.Fprintf(stdout, "schemas: %d files under %s: %d written, %d removed, %d unchanged\n",
		len(files), filepath.Join(dir, "docs"), changed, removed, len(files)-changed)
	return nil
}

// repositoryRoot walks up from the working directory to the directory whose
// go.mod declares caseledger's module.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("schemas: %w", err)
	}
	for {
		if module, err := moduleOf(filepath.Join(dir, "go.mod")); err == nil && module == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: not inside the caseledger repository: give --out", errUsage)
		}
		dir = parent
	}
}

// moduleOf reads the module path of a go.mod file.
func moduleOf(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New("no module line")
}
