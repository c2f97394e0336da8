package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var rateAndPath = regexp.MustCompile(`appended to .*\n`)

// stripRate drops the line that names the data directory and the rate.
func stripRate(s string) string { return rateAndPath.ReplaceAllString(s, "") }

// runArgs runs caseledger in-process with nothing on standard input.
// Unless env names one, every run gets its own data directory under the
// test's temporary directory.
func runArgs(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	return runStdin(t, env, "", args...)
}

// runStdin is runArgs with stdin as standard input.
func runStdin(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	if _, ok := env["CASELEDGER_DATA_DIR"]; !ok {
		e := map[string]string{"CASELEDGER_DATA_DIR": t.TempDir()}
		for k, v := range env {
			e[k] = v
		}
		env = e
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestDemoPrintsATimeline(t *testing.T) {
	out, _, err := runArgs(t, nil, "demo", "--cases", "30", "--seed", "5")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"caseledger demo: 30 cases", "OCCURRED (UTC)", "COMPARTMENT", "Case opened", "Call received", "Party identified", "Risk assessment completed", "social_work"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Personal data stays out of the timeline: the generator's addresses,
	// phone numbers and note texts are never printed.
	for _, secret := range []string{"rue des Érables", "514-555-", "Victim reports threats", "sister"} {
		if strings.Contains(out, secret) {
			t.Errorf("timeline shows personal data %q", secret)
		}
	}
	again, _, _ := runArgs(t, nil, "demo", "--cases", "30", "--seed", "5")
	if stripRate(again) != stripRate(out) {
		t.Error("the same seed printed a different demo")
	}
	other, _, _ := runArgs(t, nil, "demo", "--cases", "30", "--seed", "6")
	if stripRate(other) == stripRate(out) {
		t.Error("another seed printed the same demo")
	}
}

func TestDemoShowAndEnvironment(t *testing.T) {
	out, _, err := runArgs(t, map[string]string{"CASELEDGER_DEMO_CASES": "3", "CASELEDGER_DEMO_SEED": "9"}, "demo", "--show", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "caseledger demo: 3 cases") || !strings.Contains(out, "seed 9") || !strings.Contains(out, "Case 2 of the run") {
		t.Fatalf("environment or --show ignored:\n%s", out[:200])
	}
	// Flags override the environment.
	out, _, err = runArgs(t, map[string]string{"CASELEDGER_DEMO_CASES": "3"}, "demo", "--cases", "4")
	if err != nil || !strings.Contains(out, "caseledger demo: 4 cases") {
		t.Fatalf("flag did not override environment: %v", err)
	}
}

func TestBadInvocationsListEveryProblem(t *testing.T) {
	_, _, err := runArgs(t, map[string]string{"CASELEDGER_DEMO_SEED": "minus one"}, "demo", "--cases", "0", "--show", "7", "extra")
	if !errors.Is(err, errUsage) {
		t.Fatalf("got %v, want a usage error", err)
	}
	for _, want := range []string{"CASELEDGER_DEMO_SEED", "--cases must be", "--show must be", `unexpected argument "extra"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, _, err := runArgs(t, nil, "demo", "--cases", "ten"); !errors.Is(err, errUsage) {
		t.Errorf("non-numeric flag: %v", err)
	}
	if _, _, err := runArgs(t, nil, "serve-everything"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "serve-everything") {
		t.Errorf("unknown subcommand: %v", err)
	}
	if _, _, err := runArgs(t, nil); !errors.Is(err, errUsage) {
		t.Errorf("no subcommand: %v", err)
	}
}

func TestDemoStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	dir := t.TempDir()
	err := run(ctx, []string{"demo", "--cases", "1000", "--data-dir", dir}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
