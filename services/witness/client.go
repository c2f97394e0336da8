package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Client submits a log's checkpoints to one witness and reads its view.
type Client struct {
	URL      string        // the witness's prefix, e.g. http://127.0.0.1:7380
	Verifier note.Verifier // the witness's cosignature key
	HTTP     *http.Client
}

// Config is a ledger's --witnesses file: the witnesses and how many
// cosignatures make a checkpoint witnessed.
type Config struct {
	Quorum    int `json:"quorum"`
	Witnesses []struct {
		URL string `json:"url"`
		Key string `json:"key"` // VerifierKey form
	} `json:"witnesses"`
}

// LoadConfig reads a --witnesses file; every problem is named.
func LoadConfig(path string) (Config, []*Client, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("witness: witnesses file: %w", err)
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, nil, fmt.Errorf("witness: %s is not {quorum, witnesses: [{url, key}]}: %v", path, err)
	}
	var errs []error
	var clients []*Client
	seen := map[string]bool{}
	for i, w := range c.Witnesses {
		v, err := NewVerifier(w.Key)
		if err != nil {
			errs = append(errs, fmt.Errorf("witness %d: %w", i, err))
			continue
		}
		// A witness counts once towards the quorum, however often listed.
		if seen[v.Name()] || seen[fmt.Sprint(v.KeyHash())] {
			errs = append(errs, fmt.Errorf("witness %d: %s is listed twice: each witness counts once", i, v.Name()))
			continue
		}
		seen[v.Name()], seen[fmt.Sprint(v.KeyHash())] = true, true
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("witness %d: url must be http(s)://host:port", i))
			continue
		}
		clients = append(clients, &Client{URL: strings.TrimSuffix(w.URL, "/"), Verifier: v})
	}
	if c.Quorum < 1 || c.Quorum > len(c.Witnesses) {
		errs = append(errs, fmt.Errorf("quorum must be from 1 to the number of witnesses (%d)", len(c.Witnesses)))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, nil, fmt.Errorf("witness: %s: %w", path, err)
	}
	return c, clients, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// ErrConflict is returned by Submit when the witness last cosigned another
// size than old; the *ConflictError carries it.
var ErrConflict = errors.New("witness: the witness last cosigned another size")

// ConflictError says what size the witness last cosigned.
type ConflictError struct{ Size int64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: %d", ErrConflict, e.Size)
}
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Submit asks the witness to cosign signed (a checkpoint note) with the
// consistency proof from old, and returns its cosignature lines, checked
// against its key. A refusal is an error naming the witness and its answer.
func (c *Client) Submit(ctx context.Context, old int64, proof []tlog.Hash, signed []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.URL+"/add-checkpoint", bytes.NewReader(Request(old, proof, signed)))
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), err)
	}
	switch {
	case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
		size, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("witness %s: a conflict without a size", c.Verifier.Name())
		}
		return nil, &ConflictError{Size: size}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("witness %s refused the checkpoint: %s: %s", c.Verifier.Name(), resp.Status, strings.TrimSpace(string(firstLine(body))))
	}
	// The cosignature must be the witness's, over this very checkpoint.
	full := append(bytes.TrimRight(signed, "\n"), '\n')
	full = append(full, body...)
	if _, err := note.Open(full, note.VerifierList(c.Verifier)); err != nil {
		return nil, fmt.Errorf("witness %s answered no valid cosignature: %v", c.Verifier.Name(), err)
	}
	var mine []byte
	for _, l := range bytes.SplitAfter(body, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("— "+c.Verifier.Name()+" ")) {
			mine = append(mine, l...)
		}
	}
	return mine, nil
}

// Latest returns the latest checkpoint the witness cosigned for origin
// (with its cosignature checked), or nil when it cosigned none.
func (c *Client) Latest(ctx context.Context, origin string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.URL+"/checkpoint?origin="+url.QueryEscape(origin), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRequest))
	switch {
	case err != nil:
		return nil, fmt.Errorf("witness %s: %w", c.Verifier.Name(), err)
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("witness %s: %s", c.Verifier.Name(), resp.Status)
	}
	if _, err := note.Open(body, note.VerifierList(c.Verifier)); err != nil {
		return nil, fmt.Errorf("witness %s: its latest checkpoint carries no valid cosignature of its own: %v", c.Verifier.Name(), err)
	}
	return body, nil
}

func firstLine(b []byte) []byte {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}
