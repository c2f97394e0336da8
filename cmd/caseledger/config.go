package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/caseledger/caseledger/eventstore/sqlite"
)

// storeConfig says where the record lives. Flags override the environment,
// which overrides the defaults.
type storeConfig struct {
	DataDir string // CASELEDGER_DATA_DIR, default ./caseledger-data
}

func (c storeConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("--data-dir must not be empty")
	}
	return nil
}

// EventsFile is the embedded store's file in the data directory.
func (c storeConfig) EventsFile() string { return filepath.Join(c.DataDir, "events.db") }

// flags is a subcommand's flag set with the settings every subcommand that
// touches the record shares, and the problems found reading the environment.
type flags struct {
	*flag.FlagSet
	store storeConfig
	errs  []error
}

func newFlags(name string, getenv func(string) string, stderr io.Writer) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("caseledger "+name, flag.ContinueOnError)}
	f.SetOutput(stderr)
	f.store.DataDir = "caseledger-data"
	if v := getenv("CASELEDGER_DATA_DIR"); v != "" {
		f.store.DataDir = v
	}
	f.StringVar(&f.store.DataDir, "data-dir", f.store.DataDir, "data directory of the embedded store (env CASELEDGER_DATA_DIR)")
	return f
}

// envInt reads an integer setting from the environment into *dst.
func (f *flags) envInt(getenv func(string) string, key string, dst *int) {
	if v := getenv(key); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s is not a whole number", key))
			return
		}
		*dst = n
	}
}

// parse parses args and joins every problem: environment, flags, extra
// arguments beyond wantArgs, and each validator's.
func (f *flags) parse(args []string, wantArgs int, validators ...func() error) error {
	if err := f.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	errs := f.errs
	if f.NArg() > wantArgs {
		errs = append(errs, fmt.Errorf("unexpected argument %q", f.Arg(wantArgs)))
	}
	if f.NArg() < wantArgs {
		errs = append(errs, fmt.Errorf("missing argument"))
	}
	errs = append(errs, f.store.Validate())
	for _, v := range validators {
		errs = append(errs, v())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// openStore opens the embedded store, creating the data directory (readable
// by its owner only: it holds case files) when it does not exist.
func openStore(ctx context.Context, c storeConfig) (*sqlite.Store, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return sqlite.Open(ctx, c.EventsFile(), sqlite.Options{})
}
