package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
)

// personalValues lists the personal values of cases' events (those long
// enough to be told apart from common words).
func personalValues(t *testing.T, cases []gen.Case) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, c := range cases {
		for _, e := range c.Events() {
			_, err := domain.MapPersonal(e.Data, func(_, v string) (string, error) {
				if len(v) >= 12 && !seen[v] {
					seen[v] = true
					out = append(out, v)
				}
				return v, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// grepData runs the stock grep over dir for any of values, as adversary F
// (a copy of the data directory) would, and returns what it found.
func grepData(t *testing.T, dir string, values []string) string {
	t.Helper()
	patterns := filepath.Join(t.TempDir(), "patterns")
	if err := os.WriteFile(patterns, []byte(strings.Join(values, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("grep", "-r", "-a", "-o", "-F", "-f", patterns, dir).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return "" // nothing found
		}
		t.Fatalf("grep: %v\n%s", err, out)
	}
	return string(out)
}

// TestPersonalDataEncryptedAtRest: with serve's defaults, the personal
// values of generated cases are read in clear through the API by an
// entitled role, and grep finds none of them anywhere in the data
// directory (the record and its WAL, the read models, the NATS store, the
// ledger), while every chain still verifies.
func TestPersonalDataEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tokens := filepath.Join(dir, "tokens.json")
	if err := os.WriteFile(tokens, []byte(`[{"token":"supervisor-token-0123456789","user_id":"sup-1","role":"supervisor","agency":"police-lavallee"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	port, httpPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", data, "--nats-listen", "127.0.0.1:" + port, "--http-listen", "127.0.0.1:" + httpPort, "--tokens", tokens},
			func(string) string { return "" }, strings.NewReader(""), &out, &out)
	}()
	within(t, 20*time.Second, func() bool { return strings.Contains(out.String(), "caseledger serving") })
	const n = 4
	if got, _, err := runArgs(t, map[string]string{"CASELEDGER_NATS_URL": "nats://127.0.0.1:" + port, "CASELEDGER_KEYS_DIR": keysBeside(data)}, "emit", "--demo", strconv.Itoa(n)); err != nil {
		t.Fatalf("emit: %v\n%s", err, got)
	}
	cases, err := gen.New(1).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	values := personalValues(t, cases)
	if len(values) < 5 {
		t.Fatalf("the generated cases hold %d personal values: too few to test", len(values))
	}

	// An entitled reader sees a note's text in clear.
	var note domain.Event
	for _, c := range cases {
		for _, e := range c.Events() {
			if d, ok := e.Data.(domain.NoteAdded); ok && e.Meta.Compartment != domain.CompartmentSealed && e.Meta.Compartment != domain.CompartmentSocialWork && len(d.Text) >= 12 && note.Data == nil {
				note = e
			}
		}
	}
	if note.Data == nil {
		t.Fatal("no readable note in the generated cases")
	}
	text := note.Data.(domain.NoteAdded).Text
	url := "http://127.0.0.1:" + httpPort + "/v1/cases/" + note.CaseID.String() + "/entries/" + note.ID.String() + "?purpose=review"
	var body string
	within(t, 30*time.Second, func() bool {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer supervisor-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !jsonHolds(t, body, text) {
		t.Fatalf("the entry as served does not hold the note's text in clear:\n%s", body)
	}
	if strings.Contains(body, domain.EncryptedPrefix) {
		t.Fatalf("the entry as served holds an encrypted value:\n%s", body)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The search finds a value where one stands (its own control).
	control := t.TempDir()
	if err := os.WriteFile(filepath.Join(control, "f"), []byte("x"+values[len(values)-1]+"y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if grepData(t, control, values) == "" {
		t.Fatal("grep does not find a value in clear: the search tests nothing")
	}
	t.Logf("%d personal values of %d cases searched for", len(values), n)
	if found := grepData(t, data, values); found != "" {
		t.Fatalf("personal values in clear in the data directory:\n%s", found[:min(len(found), 3000)])
	}
	if v, _, err := runArgs(t, nil, "verify", "--data-dir", data); err != nil || !strings.Contains(v, "every chain holds") {
		t.Fatalf("verify: %v\n%s", err, v)
	}
}

// jsonHolds reports whether the JSON document holds the string s as one
// of its values.
func jsonHolds(t *testing.T, doc, s string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, doc)
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return x == s
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
