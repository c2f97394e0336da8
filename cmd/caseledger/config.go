package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/kurrent"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/caseledger/caseledger/services/personal"
)

// storeConfig says where the record lives. Flags override the environment,
// which overrides the defaults.
type storeConfig struct {
	DataDir string // CASELEDGER_DATA_DIR, default ./caseledger-data
	// EventStoreURL, when set, puts the record in EventStoreDB/KurrentDB
	// (kurrentdb://… or esdb://…) instead of the data directory's SQLite.
	EventStoreURL string // CASELEDGER_EVENTSTORE_URL
	// ReadModelURL, when set, puts the read models in PostgreSQL
	// (postgres://…) instead of the data directory's SQLite.
	ReadModelURL string // CASELEDGER_READMODEL_URL
	// KeysDir holds every key and credentials file caseledger makes or
	// reads (the ledger's key pair now), apart from the data directory
	// they protect (CASELEDGER_KEYS_DIR; default caseledger-keys beside
	// the data directory, so ./caseledger-keys by default).
	KeysDir string
	// WriterKey, when set, is the writer's signing key file instead of
	// KEYS_DIR/writer/signing.key (CASELEDGER_WRITER_KEY): processes that
	// share one registered writer key, as compose's roles do.
	WriterKey string
}

// keysDir is KeysDir, or its default when the configuration was built
// without flags.
func (c storeConfig) keysDir() string {
	if c.KeysDir != "" {
		return c.KeysDir
	}
	return keysBeside(c.DataDir)
}

// keysBeside is the default keys directory: caseledger-keys beside the
// data directory.
func keysBeside(dataDir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dataDir)), "caseledger-keys")
}

func (c storeConfig) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if inside(c.KeysDir, c.DataDir) {
		errs = append(errs, errors.New("--keys-dir must not be the data directory nor inside it: the keys protect what the data directory holds"))
	}
	if c.EventStoreURL != "" && !hasAnyPrefix(c.EventStoreURL, "kurrentdb://", "kurrentdb+discover://", "esdb://", "esdb+discover://") {
		// The URL may hold a password: it is not repeated.
		errs = append(errs, errors.New("--eventstore-url must start with kurrentdb://, kurrentdb+discover://, esdb:// or esdb+discover://"))
	}
	if c.ReadModelURL != "" && !hasAnyPrefix(c.ReadModelURL, "postgres://", "postgresql://") {
		errs = append(errs, errors.New("--readmodel-url must start with postgres:// or postgresql://"))
	}
	return errors.Join(errs...)
}

// inside reports whether path is dir or below it, following the links
// of the part of each that exists.
func inside(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	p, d = resolved(p), resolved(d)
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// resolved follows the symbolic links of the longest existing prefix of an
// absolute path.
func resolved(p string) string {
	rest := ""
	for q := p; ; q = filepath.Dir(q) {
		if r, err := filepath.EvalSymlinks(q); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(q) == q {
			return p
		}
		rest = filepath.Join(filepath.Base(q), rest)
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// EventsFile is the embedded store's file in the data directory.
func (c storeConfig) EventsFile() string { return filepath.Join(c.DataDir, "events.db") }

// flags is a subcommand's flag set with the settings every subcommand that
// touches the record shares, and the problems found reading the environment.
type flags struct {
	*flag.FlagSet
	store  storeConfig
	errs   []error
	getenv func(string) string
}

func newFlags(name string, getenv func(string) string, stderr io.Writer) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("caseledger "+name, flag.ContinueOnError), getenv: getenv}
	f.SetOutput(stderr)
	f.store.DataDir = "caseledger-data"
	if v := getenv("CASELEDGER_DATA_DIR"); v != "" {
		f.store.DataDir = v
	}
	// A URL holding a password may come from a file (a container secret).
	f.store.EventStoreURL = f.envOrFile(getenv, "CASELEDGER_EVENTSTORE_URL")
	f.store.ReadModelURL = f.envOrFile(getenv, "CASELEDGER_READMODEL_URL")
	f.StringVar(&f.store.ReadModelURL, "readmodel-url", f.store.ReadModelURL, "PostgreSQL for the read models instead of DATA_DIR/readmodels.db (env CASELEDGER_READMODEL_URL)")
	f.StringVar(&f.store.DataDir, "data-dir", f.store.DataDir, "data directory of the embedded store (env CASELEDGER_DATA_DIR)")
	f.StringVar(&f.store.EventStoreURL, "eventstore-url", f.store.EventStoreURL, "EventStoreDB/KurrentDB connection string instead of the embedded store (env CASELEDGER_EVENTSTORE_URL)")
	f.store.WriterKey = getenv("CASELEDGER_WRITER_KEY")
	f.StringVar(&f.store.WriterKey, "writer-key", f.store.WriterKey, "the writer's signing key file instead of KEYS_DIR/writer/signing.key (env CASELEDGER_WRITER_KEY)")
	f.store.KeysDir = getenv("CASELEDGER_KEYS_DIR")
	f.StringVar(&f.store.KeysDir, "keys-dir", f.store.KeysDir, "directory of every key and credentials file, apart from the data directory (env CASELEDGER_KEYS_DIR; default caseledger-keys beside the data directory)")
	return f
}

// str declares a string setting: *dst is def, or the environment variable
// env (or the file env_FILE names, for a secret), or the flag name, which
// wins; usage gains the variable's name.
func (f *flags) str(dst *string, name, env, def, usage string) {
	*dst = def
	if v := f.envOrFile(f.getenv, env); v != "" {
		*dst = v
	}
	f.StringVar(dst, name, *dst, usage+" (env "+env+")")
}

// integer declares a whole-number setting, as str does.
func (f *flags) integer(dst *int, name, env string, def int, usage string) {
	*dst = def
	f.envInt(f.getenv, env, dst)
	f.IntVar(dst, name, *dst, usage+" (env "+env+")")
}

// duration declares a duration setting (1s, 5m), as str does.
func (f *flags) duration(dst *time.Duration, name, env string, def time.Duration, usage string) {
	*dst = def
	if v := f.getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s is not a duration (e.g. 1s, 5m)", env))
		} else {
			*dst = d
		}
	}
	f.DurationVar(dst, name, *dst, usage+" (env "+env+")")
}

// boolean declares an on/off setting (env true or false), as str does.
func (f *flags) boolean(dst *bool, name, env string, def bool, usage string) {
	*dst = def
	if v := f.getenv(env); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s is not true or false", env))
		} else {
			*dst = b
		}
	}
	f.BoolVar(dst, name, *dst, usage+" (env "+env+")")
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

// parse parses args expecting exactly wantArgs positional arguments.
func (f *flags) parse(args []string, wantArgs int, validators ...func() error) error {
	return f.parseRange(args, wantArgs, wantArgs, validators...)
}

// parseRange parses args and joins every problem: environment, flags,
// positional arguments outside [least, most], and each validator's.
func (f *flags) parseRange(args []string, least, most int, validators ...func() error) error {
	if err := f.Parse(f.flagsFirst(args)); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.store.KeysDir == "" {
		f.store.KeysDir = keysBeside(f.store.DataDir)
	}
	errs := f.errs
	if f.NArg() > most {
		errs = append(errs, fmt.Errorf("unexpected argument %q", f.Arg(most)))
	}
	if f.NArg() < least {
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

// openStore opens the record: EventStoreDB/KurrentDB when a URL is given,
// else the embedded store, creating the data directory (readable by its
// owner only: it holds case files) when it does not exist.
//
// Every append through it is signed with the writer key of the keys
// directory (made on first use): what this process writes, the ledger can
// tell from what an insider adds.
func openStore(ctx context.Context, c storeConfig) (eventstore.Store, error) {
	wk, err := writerKeys(c)
	if err != nil {
		return nil, err
	}
	var st eventstore.Store
	if c.EventStoreURL != "" {
		st, err = kurrent.Open(ctx, c.EventStoreURL)
	} else if err = os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	} else {
		st, err = sqlite.Open(ctx, c.EventsFile(), sqlite.Options{})
	}
	if err != nil {
		return nil, err
	}
	// Personal fields are encrypted before the writer signs: the
	// signature, the chain and the Merkle leaves cover the stored,
	// encrypted bytes, and stay valid once a key is destroyed.
	keys, err := openPersonalKeys(ctx, c)
	if err != nil {
		st.Close()
		return nil, err
	}
	return personal.Store{Store: ledger.SigningStore{Store: st, Writer: wk.Signer}, Keys: keys}, nil
}

// openPersonalKeys opens the key store of personal data
// (DATA_DIR/personal-keys.db) with the master key of the keys directory
// (KEYS_DIR/data/master.key), made on first use.
func openPersonalKeys(ctx context.Context, c storeConfig) (*personal.Keys, error) {
	path := filepath.Join(c.keysDir(), "data", personal.MasterKeyFile)
	store, erased := filepath.Join(c.DataDir, personalKeysFile), filepath.Join(c.keysDir(), "data", personal.ErasedFile)
	// The master key is made with the key store, never beside an existing
	// one: a new key would open none of its keys.
	_, serr := os.Stat(store)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && serr == nil {
		return nil, fmt.Errorf("the master key %s is missing and the key store %s exists: restore the master key from its backup (a new one would open none of the data keys)", path, store)
	}
	master, err := personal.LoadMasterKey(path, true)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	keys, err := personal.OpenKeys(ctx, store, master, erased)
	if errors.Is(err, personal.ErrMasterKey) {
		// A rotation that committed and was stopped before its new key
		// took the old one's place: finished now.
		if next, nerr := personal.LoadMasterKey(path+".new", false); nerr == nil {
			if keys, nerr := personal.OpenKeys(ctx, store, next, erased); nerr == nil {
				if rerr := os.Rename(path+".new", path); rerr != nil {
					keys.Close()
					return nil, fmt.Errorf("finish the master key's rotation: %w", rerr)
				}
				return keys, nil
			}
		}
	}
	return keys, err
}

// runRotateMasterKey wraps every data key again under a new master key
// (serve stopped: it holds the old one in memory). The new key is written
// beside the old one and synced, the key store rewrapped in one
// transaction, and the new key renamed over the old: stopped anywhere, the
// next open finishes or ignores the rotation.
func runRotateMasterKey(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("rotate-master-key", getenv, stderr)
	if err := f.parse(args, 0); err != nil {
		return err
	}
	st, err := openStoreAlone(ctx, f.store, "it holds the master key in memory: stop it first")
	if err != nil {
		return err
	}
	defer st.Close()
	path := filepath.Join(f.store.keysDir(), "data", personal.MasterKeyFile)
	next := make([]byte, 32)
	if _, err := rand.Read(next); err != nil {
		return err
	}
	if err := writeSynced(path+".new", []byte(base64.StdEncoding.EncodeToString(next)+"\n")); err != nil {
		return fmt.Errorf("rotate-master-key: %w", err)
	}
	n, err := st.(personal.Store).Keys.RotateMaster(ctx, next)
	if err != nil {
		os.Remove(path + ".new")
		return fmt.Errorf("rotate-master-key: nothing changed: %w", err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		return fmt.Errorf("rotate-master-key: the key store is wrapped by %s.new, which must take %s's place: %w", path, path, err)
	}
	fmt.Fprintf(stdout, "%d data keys wrapped under a new master key (%s); the old one opens nothing now: destroy its copies and back the new one up\n", n, path)
	return nil
}

// writeSynced writes a file (0600) and syncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// personalKeysFile is the key store's file in the data directory.
const personalKeysFile = "personal-keys.db"

// openStoreAlone opens the record to write it from the command line; while
// a serve holds the embedded store, it says so and what to do instead.
func openStoreAlone(ctx context.Context, c storeConfig, instead string) (eventstore.Store, error) {
	st, err := openStore(ctx, c)
	if errors.Is(err, sqlite.ErrLocked) {
		return nil, errors.New("the record is held by a running serve: " + instead)
	}
	return st, err
}

// openReader opens the record for reading only: the embedded store without
// its lock, so an auditor can verify or replay while caseledger runs.
func openReader(ctx context.Context, c storeConfig) (eventstore.Reader, error) {
	if c.EventStoreURL != "" {
		return kurrent.Open(ctx, c.EventStoreURL)
	}
	return sqlite.Open(ctx, c.EventsFile(), sqlite.Options{ReadOnly: true})
}

// where names the record for messages, without a URL's credentials.
func (c storeConfig) where() string {
	if c.EventStoreURL != "" {
		return "EventStoreDB/KurrentDB"
	}
	return c.EventsFile()
}

// flagsFirst moves positional arguments after the flags, so that
// "replay CASE_ID --as-recorded-at T" parses like "replay --as-recorded-at T
// CASE_ID"; a flag's value stays with its flag, and "--" ends the flags.
func (f *flags) flagsFirst(args []string) []string {
	var flagArgs, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flagArgs = append(flagArgs, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if fl := f.Lookup(name); fl != nil && i+1 < len(args) {
			if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
			i++
			flagArgs = append(flagArgs, args[i])
		}
	}
	return append(flagArgs, rest...)
}

// envOrFile reads key from the environment, or from the file named by
// key_FILE; an unreadable file is a configuration error naming the variable.
func (f *flags) envOrFile(getenv func(string) string, key string) string {
	if v := getenv(key); v != "" {
		return v
	}
	path := getenv(key + "_FILE")
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		f.errs = append(f.errs, fmt.Errorf("%s_FILE: %s cannot be read", key, path))
		return ""
	}
	return strings.TrimSpace(string(b))
}
