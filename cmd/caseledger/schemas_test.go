package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemasWritesTheContract(t *testing.T) {
	dir := t.TempDir()
	schemas := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runSchemas(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		return out.String(), err
	}
	out, err := schemas("--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"docs/asyncapi.yaml", "docs/schemas/commands/open_case.json", "docs/schemas/events/case.opened.json", "docs/schemas/outcome.json", "docs/schemas/relayed-event.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !strings.Contains(out, "0 removed, 0 unchanged") {
		t.Errorf("first run printed %q", out)
	}

	stale := filepath.Join(dir, "docs", "schemas", "commands", "renamed_command.json")
	if err := os.WriteFile(stale, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = schemas("--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, " 0 written, 1 removed") {
		t.Errorf("second run printed %q", out)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a schema file no longer generated was kept")
	}

	if _, err := schemas("--out", dir, "extra"); !errors.Is(err, errUsage) {
		t.Errorf("an extra argument gave %v, want a usage error", err)
	}
}
