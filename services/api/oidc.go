package api

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caseledger/caseledger/domain"
)

// OIDC verifies bearer JWTs from an OpenID Connect provider against its
// JWKS: RS256, ES256 and EdDSA signatures, the issuer, the audience, and
// the expiry and not-before times (one minute of leeway). The user is the
// token's subject; the role and agency come from the caseledger_role and
// caseledger_agency claims.
type OIDC struct {
	Issuer   string
	Audience string
	JWKSURL  string
	Client   *http.Client
	Now      func() time.Time

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

// ErrToken is wrapped by every refusal of a token; the text says which
// check failed, never the token or its claims' values.
var ErrToken = errors.New("api: token refused")

const leeway = time.Minute

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type jwtClaims struct {
	Iss    string          `json:"iss"`
	Sub    string          `json:"sub"`
	Aud    json.RawMessage `json:"aud"`
	Exp    float64         `json:"exp"`
	Nbf    float64         `json:"nbf"`
	Role   string          `json:"caseledger_role"`
	Agency string          `json:"caseledger_agency"`
}

func refuse(why string) error { return fmt.Errorf("%w: %s", ErrToken, why) }

// Verify checks a compact JWT and returns its principal.
func (o *OIDC) Verify(ctx context.Context, token string) (Principal, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Principal{}, refuse("not a compact JWT")
	}
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		return Principal{}, refuse("unreadable header")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return Principal{}, refuse("unreadable signature")
	}
	key, err := o.key(ctx, h.Kid)
	if err != nil {
		return Principal{}, err
	}
	if err := verifySig(h.Alg, key, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return Principal{}, err
	}
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		return Principal{}, refuse("unreadable claims")
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now()
	switch {
	case c.Iss != o.Issuer:
		return Principal{}, refuse("wrong issuer")
	case !audience(c.Aud, o.Audience):
		return Principal{}, refuse("wrong audience")
	case c.Exp == 0 || t.After(time.Unix(int64(c.Exp), 0).Add(leeway)):
		return Principal{}, refuse("expired")
	case c.Nbf != 0 && t.Add(leeway).Before(time.Unix(int64(c.Nbf), 0)):
		return Principal{}, refuse("not yet valid")
	case c.Sub == "" || len(c.Sub) > 128 || c.Agency == "" || len(c.Agency) > 128:
		return Principal{}, refuse("subject or caseledger_agency missing")
	case !validRole(domain.Role(c.Role)):
		return Principal{}, refuse("caseledger_role missing or unknown")
	}
	return Principal{UserID: c.Sub, Role: domain.Role(c.Role), Agency: c.Agency}, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func audience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, want)
}

func verifySig(alg string, key crypto.PublicKey, signed, sig []byte) error {
	sum := sha256.Sum256(signed)
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" && rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" && len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if ecdsa.Verify(k, sum[:], r, s) {
				return nil
			}
		}
	case ed25519.PublicKey:
		if alg == "EdDSA" && ed25519.Verify(k, signed, sig) {
			return nil
		}
	}
	return refuse("bad signature or algorithm")
}

// key returns the JWKS key with the given id, fetching the set when the id
// is unknown (at most every ten seconds, so bad tokens cannot hammer the
// provider).
func (o *OIDC) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k, ok := o.keys[kid]; ok {
		return k, nil
	}
	if time.Since(o.fetched) < 10*time.Second && o.keys != nil {
		return nil, refuse("unknown key id")
	}
	keys, err := o.fetch(ctx)
	o.fetched = time.Now()
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS unavailable: %v", ErrToken, err)
	}
	o.keys = keys
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, refuse("unknown key id")
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (o *OIDC) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", o.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, err
	}
	out := map[string]crypto.PublicKey{}
	b64 := base64.RawURLEncoding
	for _, k := range set.Keys {
		switch {
		case k.Kty == "RSA":
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 == nil && err2 == nil && len(e) <= 4 {
				out[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			}
		case k.Kty == "EC" && k.Crv == "P-256":
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if err1 == nil && err2 == nil && len(x) == 32 && len(y) == 32 {
				// Parsing the uncompressed point checks it lies on the curve.
				if pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...)); err == nil {
					out[k.Kid] = pub
				}
			}
		case k.Kty == "OKP" && k.Crv == "Ed25519":
			if x, err := b64.DecodeString(k.X); err == nil && len(x) == ed25519.PublicKeySize {
				out[k.Kid] = ed25519.PublicKey(x)
			}
		}
	}
	return out, nil
}
