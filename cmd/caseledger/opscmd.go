package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runHealth asks a role's /readyz (or any URL) and exits non-zero unless it
// answers 200: the container health check of an image with no shell.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	url := "http://127.0.0.1:9464/readyz"
	if len(args) == 1 {
		url = args[0]
	} else if len(args) > 1 {
		return fmt.Errorf("%w: caseledger health [URL]", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprint(stdout, string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %d", url, resp.StatusCode)
	}
	return nil
}

// runNATSConf prints the part of a nats-server configuration that makes an
// external server (a cluster's nodes) trust the keys directory's authority:
// the operator, the account and its revocations. Every identity is then a
// creds file of that authority (caseledger creds issue), with the same
// per-role subjects the embedded server applies: one source for both.
func runNATSConf(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("natsconf", getenv, stderr)
	if err := f.parse(args, 0); err != nil {
		return err
	}
	auth, err := openAuthority(f, stderr)
	if err != nil {
		return err
	}
	conf, err := auth.ServerConfig()
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, conf)
	return nil
}
