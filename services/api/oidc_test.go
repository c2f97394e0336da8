package api_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/api"
)

type signer struct {
	kid, alg string
	sign     func(data []byte) []byte
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s signer) token(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": s.alg, "kid": s.kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	signed := b64(h) + "." + b64(c)
	return signed + "." + b64(s.sign([]byte(signed)))
}

// provider serves a JWKS with an RSA, an EC P-256 and an Ed25519 key, and
// returns signers for them.
func provider(t *testing.T) (*httptest.Server, []signer) {
	t.Helper()
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	epub, _ := ek.PublicKey.Bytes() // 0x04 || X || Y
	opub, opriv, _ := ed25519.GenerateKey(rand.Reader)
	jwks := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(epub[1:33]), "y": b64(epub[33:])},
		{"kty": "OKP", "kid": "o1", "crv": "Ed25519", "x": b64(opub)},
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(jwks) }))
	t.Cleanup(srv.Close)
	return srv, []signer{
		{"r1", "RS256", func(d []byte) []byte {
			sum := sha256.Sum256(d)
			s, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sum[:])
			return s
		}},
		{"e1", "ES256", func(d []byte) []byte {
			sum := sha256.Sum256(d)
			r, s, _ := ecdsa.Sign(rand.Reader, ek, sum[:])
			out := make([]byte, 64)
			r.FillBytes(out[:32])
			s.FillBytes(out[32:])
			return out
		}},
		{"o1", "EdDSA", func(d []byte) []byte { return ed25519.Sign(opriv, d) }},
	}
}

func TestOIDC(t *testing.T) {
	srv, signers := provider(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	o := &api.OIDC{Issuer: "https://idp.example", Audience: "caseledger", JWKSURL: srv.URL, Now: func() time.Time { return now }}
	good := func() map[string]any {
		return map[string]any{"iss": "https://idp.example", "aud": []string{"caseledger", "other"}, "sub": "sw-7",
			"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(), "caseledger_role": "social_worker", "caseledger_agency": "police-lavallee"}
	}
	for _, s := range signers {
		p, err := o.Verify(context.Background(), s.token(good()))
		if err != nil || p.UserID != "sw-7" || p.Role != domain.RoleSocialWorker || p.Agency != "police-lavallee" {
			t.Fatalf("%s: %+v %v", s.alg, p, err)
		}
	}
	bad := map[string]func(c map[string]any){
		"expired":        func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() },
		"not yet valid":  func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() },
		"wrong audience": func(c map[string]any) { c["aud"] = "someone-else" },
		"wrong issuer":   func(c map[string]any) { c["iss"] = "https://evil.example" },
		"no role":        func(c map[string]any) { delete(c, "caseledger_role") },
		"unknown role":   func(c map[string]any) { c["caseledger_role"] = "root" },
		"no agency":      func(c map[string]any) { delete(c, "caseledger_agency") },
	}
	for why, change := range bad {
		c := good()
		change(c)
		if _, err := o.Verify(context.Background(), signers[0].token(c)); !errors.Is(err, api.ErrToken) {
			t.Errorf("%s: %v", why, err)
		}
	}
	// A signature by another key, a token whose alg does not match its key,
	// an unknown kid, garbage.
	tok := signers[0].token(good())
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + parts[1] + "." + b64(signers[2].sign([]byte(parts[0]+"."+parts[1])))
	wrongAlg := signer{"r1", "EdDSA", signers[2].sign}.token(good())
	unknown := signer{"zz", "RS256", signers[0].sign}.token(good())
	for name, bad := range map[string]string{"forged": forged, "wrong alg": wrongAlg, "unknown kid": unknown, "garbage": "a.b", "empty": ""} {
		if _, err := o.Verify(context.Background(), bad); !errors.Is(err, api.ErrToken) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

// TestOIDCOnTheAPI: the API takes a provider's JWT; an expired one is 401.
func TestOIDCOnTheAPI(t *testing.T) {
	f := setup(t)
	srv, signers := provider(t)
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	h := api.New(nil, f.store, nil, func() time.Time { return now }).WithOIDC(&api.OIDC{Issuer: "iss", Audience: "cl", JWKSURL: srv.URL, Now: func() time.Time { return now }})
	claims := map[string]any{"iss": "iss", "aud": "cl", "sub": "sup-2", "exp": now.Add(time.Hour).Unix(), "caseledger_role": "officer", "caseledger_agency": "police-lavallee"}
	for _, tc := range []struct {
		exp    time.Time
		status int
	}{{now.Add(time.Hour), http.StatusForbidden}, {now.Add(-time.Hour), http.StatusUnauthorized}} {
		claims["exp"] = tc.exp.Unix()
		req := httptest.NewRequest("GET", "/v1/dashboard", nil)
		req.Header.Set("Authorization", "Bearer "+signers[1].token(claims))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status { // an officer is authenticated, then refused the dashboard
			t.Errorf("exp %v: %d, want %d", tc.exp, w.Code, tc.status)
		}
	}
}
