package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Authority is a deployment's NATS trust, kept in KEYS_DIR/nats: an
// operator and one account, whose seeds never leave that directory, and the
// identities the account has issued, each a standard NATS creds file (user
// JWT and NKey seed) with its role's subjects. The server knows only the
// operator and the account's JWT: it holds no user secret, so a creds file
// is the only way in, an expired one is refused, and a revoked one
// (Revoke) is refused from the next start (or at once by a running serve,
// which re-reads the revocations).
//
// The same authority configures the embedded server and, through
// natsconf, an external cluster.
type Authority struct {
	dir      string
	operator nkeys.KeyPair
	account  nkeys.KeyPair
	system   nkeys.KeyPair // the server's own account ($SYS), which JetStream needs; no identity is issued in it
	sysJWT   string
	opClaims *jwt.OperatorClaims
	opJWT    string
	accPub   string
}

// AuthorityDir is the authority's directory under the keys directory.
const AuthorityDir = "nats"

const (
	operatorSeedFile = "operator.nk"
	accountSeedFile  = "account.nk"
	systemSeedFile   = "system.nk"
	revokedFile      = "revoked.json"
)

var identityName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// OpenAuthority loads the authority in keysDir/nats, making its keys and a
// creds file per role on first use (mode 0700 directory, 0600 files).
// created lists the creds files written now.
func OpenAuthority(keysDir string) (a *Authority, created []string, err error) {
	dir := filepath.Join(keysDir, AuthorityDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("natsbus: identities directory: %w", err)
	}
	a = &Authority{dir: dir}
	if a.operator, err = loadOrCreateSeed(filepath.Join(dir, operatorSeedFile), nkeys.CreateOperator, nkeys.PrefixByteOperator); err != nil {
		return nil, nil, err
	}
	if a.account, err = loadOrCreateSeed(filepath.Join(dir, accountSeedFile), nkeys.CreateAccount, nkeys.PrefixByteAccount); err != nil {
		return nil, nil, err
	}
	if a.system, err = loadOrCreateSeed(filepath.Join(dir, systemSeedFile), nkeys.CreateAccount, nkeys.PrefixByteAccount); err != nil {
		return nil, nil, err
	}
	opPub, _ := a.operator.PublicKey()
	a.accPub, _ = a.account.PublicKey()
	sysPub, _ := a.system.PublicKey()
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	if a.sysJWT, err = sc.Encode(a.operator); err != nil {
		return nil, nil, fmt.Errorf("natsbus: system account JWT: %w", err)
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "caseledger"
	oc.SystemAccount = sysPub
	if a.opJWT, err = oc.Encode(a.operator); err != nil {
		return nil, nil, fmt.Errorf("natsbus: operator JWT: %w", err)
	}
	if a.opClaims, err = jwt.DecodeOperatorClaims(a.opJWT); err != nil {
		return nil, nil, err
	}
	// One identity per role, named after it, on first start:
	// KEYS_DIR/nats/<role>.creds.
	for _, role := range Roles {
		path := filepath.Join(dir, role+".creds")
		if _, err := os.Stat(path); err == nil {
			continue
		}
		creds, _, err := a.Issue(role, role, 0)
		if err != nil {
			return nil, nil, err
		}
		if err := writeNew(path, creds); err != nil {
			return nil, nil, err
		}
		created = append(created, path)
	}
	return a, created, nil
}

// Dir is the authority's directory.
func (a *Authority) Dir() string { return a.dir }

// Account is the account's public key: streams live under it.
func (a *Authority) Account() string { return a.accPub }

// Issue makes an identity of a role: a creds file's bytes and the user's
// public key. validFor 0 means it does not expire.
func (a *Authority) Issue(role, name string, validFor time.Duration) (creds []byte, public string, err error) {
	if !identityName.MatchString(name) {
		return nil, "", fmt.Errorf("natsbus: identity name must be 1 to 64 lower-case letters, digits, dashes or underscores")
	}
	if role == RoleAll {
		return nil, "", errors.New("natsbus: role all is the node's own, never issued")
	}
	perms, err := userPermissions(role, name)
	if err != nil {
		return nil, "", err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	public, _ = kp.PublicKey()
	uc := jwt.NewUserClaims(public)
	uc.Name = name
	uc.Tags.Add("role:" + role)
	uc.Permissions = perms
	if validFor > 0 {
		uc.Expires = time.Now().Add(validFor).Unix()
	}
	token, err := uc.Encode(a.account)
	if err != nil {
		return nil, "", fmt.Errorf("natsbus: user JWT: %w", err)
	}
	seed, _ := kp.Seed()
	creds, err = jwt.FormatUserConfig(token, seed)
	return creds, public, err
}

// Revoke refuses an identity from now on: its creds file's user is listed
// in revoked.json, which every start and a running serve apply. It returns
// the identity's name.
func (a *Authority) Revoke(credsPath string) (string, error) {
	raw, err := os.ReadFile(credsPath)
	if err != nil {
		return "", fmt.Errorf("natsbus: creds file: %w", err)
	}
	token, err := jwt.ParseDecoratedJWT(raw)
	if err != nil {
		return "", fmt.Errorf("natsbus: %s is not a creds file", credsPath)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", fmt.Errorf("natsbus: %s: the user JWT does not decode", credsPath)
	}
	if uc.Issuer != a.accPub {
		return "", fmt.Errorf("natsbus: %s was not issued by this authority (%s)", credsPath, a.dir)
	}
	revoked, err := a.revoked()
	if err != nil {
		return "", err
	}
	revoked[uc.Subject] = time.Now().Unix()
	b, _ := json.MarshalIndent(revoked, "", "  ")
	tmp := filepath.Join(a.dir, revokedFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", fmt.Errorf("natsbus: revocations: %w", err)
	}
	return uc.Name, os.Rename(tmp, filepath.Join(a.dir, revokedFile))
}

// revoked reads the revocations: user public key → time from which its
// JWTs are refused.
func (a *Authority) revoked() (map[string]int64, error) {
	out := map[string]int64{}
	b, err := os.ReadFile(filepath.Join(a.dir, revokedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: revocations: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("natsbus: %s is not a JSON object of user keys and times", filepath.Join(a.dir, revokedFile))
	}
	return out, nil
}

// AccountJWT is the account's JWT as of now: JetStream without limits,
// and the revocations.
func (a *Authority) AccountJWT() (string, error) {
	ac := jwt.NewAccountClaims(a.accPub)
	ac.Name = "caseledger"
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	revoked, err := a.revoked()
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(revoked))
	for k := range revoked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ac.RevokeAt(k, time.Unix(revoked[k], 0))
	}
	return ac.Encode(a.operator)
}

// configure makes a server trust this authority alone.
func (a *Authority) configure(opts *server.Options) error {
	accJWT, err := a.AccountJWT()
	if err != nil {
		return err
	}
	res := &server.MemAccResolver{}
	if err := res.Store(a.accPub, accJWT); err != nil {
		return err
	}
	if err := res.Store(a.opClaims.SystemAccount, a.sysJWT); err != nil {
		return err
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{a.opClaims}
	opts.AccountResolver = res
	opts.SystemAccount = a.opClaims.SystemAccount
	return nil
}

// selfOptions issue, in memory, the process's own identity (role all):
// no file holds it, and it ends with the process.
func (a *Authority) selfOptions() ([]nats.Option, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	public, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(public)
	uc.Name = "caseledger-internal"
	token, err := uc.Encode(a.account)
	if err != nil {
		return nil, err
	}
	return []nats.Option{nats.UserJWT(func() (string, error) { return token, nil }, kp.Sign)}, nil
}

// applyRevocations pushes the current account JWT (its revocations) to a
// running server: connections of a revoked identity are closed.
func (a *Authority) applyRevocations(s *server.Server) error {
	accJWT, err := a.AccountJWT()
	if err != nil {
		return err
	}
	ac, err := jwt.DecodeAccountClaims(accJWT)
	if err != nil {
		return err
	}
	acc, err := s.LookupAccount(a.accPub)
	if err != nil {
		return err
	}
	if err := s.AccountResolver().Store(a.accPub, accJWT); err != nil {
		return err
	}
	s.UpdateAccountClaims(acc, ac)
	return nil
}

// ServerConfig is the part of a nats-server configuration file that makes
// an external server trust this authority: the operator, the account and
// its JWT preloaded (regenerate it after a revocation).
func (a *Authority) ServerConfig() (string, error) {
	accJWT, err := a.AccountJWT()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("# Generated by caseledger natsconf from %s: the operator and account every\n# caseledger identity (KEYS_DIR/nats/*.creds) is issued by.\noperator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %q\n  %s: %q\n}\n", a.dir, a.opJWT, a.opClaims.SystemAccount, a.accPub, accJWT, a.opClaims.SystemAccount, a.sysJWT), nil
}

// WatchRevocations applies revoked.json to a running server whenever it
// changes, until ctx ends; a problem is reported to warn and the previous
// revocations stay.
func (e *Embedded) WatchRevocations(ctx context.Context, a *Authority, warn func(error)) {
	path := filepath.Join(a.dir, revokedFile)
	// Applied once at once: a revocation written between the server's
	// start and this watch is not missed.
	var seen time.Time
	if st, err := os.Stat(path); err == nil {
		seen = st.ModTime()
		if err := a.applyRevocations(e.Server); err != nil {
			warn(err)
		}
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || st.ModTime().Equal(seen) {
			continue
		}
		seen = st.ModTime()
		if err := a.applyRevocations(e.Server); err != nil {
			warn(err)
		}
	}
}

func loadOrCreateSeed(path string, create func() (nkeys.KeyPair, error), prefix nkeys.PrefixByte) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := create()
		if err != nil {
			return nil, err
		}
		seed, _ := kp.Seed()
		if err := writeNew(path, append(seed, '\n')); err != nil {
			return nil, err
		}
		return kp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return nil, fmt.Errorf("natsbus: %s does not hold an NKey seed", path)
	}
	if pub, _ := kp.PublicKey(); nkeys.Prefix(pub) != prefix {
		return nil, fmt.Errorf("natsbus: %s holds the seed of another kind of key", path)
	}
	return kp, nil
}

// writeNew writes a new file readable by its owner only.
func writeNew(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("natsbus: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return fmt.Errorf("natsbus: %w", err)
	}
	return f.Close()
}

// Identity is an identity the authority issued, as its creds file says.
type Identity struct {
	Name, Role, Creds string
}

// Identities lists the identities whose creds files are in the
// authority's directory and were issued by its account.
func (a *Authority) Identities() ([]Identity, error) {
	files, err := filepath.Glob(filepath.Join(a.dir, "*.creds"))
	if err != nil {
		return nil, err
	}
	var out []Identity
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		token, err := jwt.ParseDecoratedJWT(raw)
		if err != nil {
			continue
		}
		uc, err := jwt.DecodeUserClaims(token)
		if err != nil || uc.Issuer != a.accPub {
			continue
		}
		for _, tag := range uc.Tags {
			if role, ok := strings.CutPrefix(tag, "role:"); ok {
				out = append(out, Identity{Name: uc.Name, Role: role, Creds: f})
			}
		}
	}
	return out, nil
}
