// Package deploy holds the production shape's files (compose.yaml at the
// repository root, the Dockerfile, NATS configuration, certificate script);
// its test checks them with docker-compose itself.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestComposeFile: docker-compose (Debian's package, installed by the test
// script) validates compose.yaml with and without the insecure profile, and
// the resolved file has every role, pinned images, health checks, a volume
// for every piece of state and no secret written in it.
func TestComposeFile(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed; scripts/test.sh installs it")
		}
		t.Skip("docker-compose not installed")
	}
	root, _ := filepath.Abs("..")
	for _, args := range [][]string{{"config", "-q"}, {"--profile", "insecure", "config", "-q"}} {
		cmd := exec.Command(bin, append([]string{"-f", filepath.Join(root, "compose.yaml"), "-p", "caseledger"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker-compose %v: %v\n%s", args, err, out)
		}
	}
	// The resolved file, as JSON through docker-compose's own YAML.
	cmd := exec.Command(bin, "-f", filepath.Join(root, "compose.yaml"), "-p", "caseledger", "config")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	resolved := string(out)
	for _, role := range []string{"ingest", "relay", "project", "ledger", "api"} {
		if !regexp.MustCompile(`(?m)^  ` + role + `:$`).MatchString(resolved) {
			t.Errorf("no %s service", role)
		}
		if !regexp.MustCompile(`- --role\n\s+- ` + role + `\n`).MatchString(resolved) {
			t.Errorf("the %s service does not run serve --role %s", role, role)
		}
	}
	for _, m := range regexp.MustCompile(`image: (\S+)`).FindAllStringSubmatch(resolved, -1) {
		if img := m[1]; strings.HasSuffix(img, ":latest") || !strings.Contains(img, ":") {
			t.Errorf("image %s is not pinned to a version", img)
		}
	}
	for _, state := range []string{"nats-1-data", "nats-2-data", "nats-3-data", "kurrentdb-data", "postgres-data", "ledger-data", "certs"} {
		if !strings.Contains(resolved, "source: "+state) && !strings.Contains(resolved, state+":") {
			t.Errorf("no volume %s", state)
		}
	}
	if n := strings.Count(resolved, "healthcheck:"); n < 9 {
		t.Errorf("%d health checks, want one per long-running service", n)
	}
	raw, _ := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if m := regexp.MustCompile(`(?i)(password|secret|token)\s*[:=]\s*["']?[A-Za-z0-9+/]{8,}`).Find(raw); m != nil {
		t.Errorf("compose.yaml seems to hold a secret: %q", m)
	}
}

// TestDockerfile: multi-stage, a static binary, a non-root user, a health
// check. (Debian has no Dockerfile linter; these are the rules that matter.)
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(raw)
	if strings.Count(d, "\nFROM ") < 1 || !strings.HasPrefix(strings.TrimLeft(d[strings.Index(d, "FROM"):], " "), "FROM golang:") {
		t.Error("not a multi-stage build from a Go image")
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "HEALTHCHECK", "distroless/static"} {
		if !strings.Contains(d, want) {
			t.Errorf("the Dockerfile lacks %s", want)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(d, -1) {
		if strings.HasSuffix(m[1], ":latest") || !strings.Contains(m[1], ":") {
			t.Errorf("base image %s is not pinned", m[1])
		}
	}
}
