package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ingest"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// ExampleClient_Send sends a command to a caseledger node (here an
// in-process NATS server with ingest on a SQLite store) and waits for its
// outcome. Sending the same command again, as an emitter does after a
// timeout, is answered with the stored result.
func ExampleClient_Send() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "caseledger-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The emitter's signing key; its registry entry (public key, the
	// agencies it acts for) is what the node trusts.
	private, entry, err := intake.NewKey("cad", "police-lavallee")
	if err != nil {
		log.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cad.key")
	if err := os.WriteFile(keyFile, []byte(private), 0o600); err != nil {
		log.Fatal(err)
	}
	url, creds, stop := startNode(ctx, dir, entry)
	defer stop()

	// An emitter connects with intake.Dial and its creds file, and signs
	// every command with its key.
	opts, err := natsbus.ClientOptions(creds, "")
	if err != nil {
		log.Fatal(err)
	}
	nc, err := intake.Dial(url, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	client, err := intake.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := intake.LoadSigner("cad", keyFile)
	if err != nil {
		log.Fatal(err)
	}
	client = client.WithSigner(signer)
	cmd := domain.OpenCase{
		CommandHeader: domain.CommandHeader{
			CaseID:       uuid.MustParse("0190f3a4-5b6c-7d8e-9f00-112233445566"),
			CommandID:    uuid.MustParse("0190f3a4-5b6c-7d8e-9f00-aabbccddeeff"),
			Actor:        domain.Actor{UserID: "cad", Role: domain.RoleSystem, Agency: "police-lavallee"},
			OccurredAt:   time.Date(2024, 11, 2, 3, 4, 5, 0, time.UTC),
			SourceSystem: "cad",
		},
		CaseOpened: domain.CaseOpened{Module: "victim_support", Agency: "police-lavallee"},
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := client.Send(sctx, cmd)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted:", out.Accepted, "first version:", out.FirstVersion, "events:", len(out.EventIDs))

	again, err := client.Send(sctx, cmd)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("again: duplicate:", again.Duplicate, "first version:", again.FirstVersion)
	// Output:
	// accepted: true first version: 0 events: 1
	// again: duplicate: true first version: 0
}

// startNode starts what a single caseledger node runs for intake: an
// embedded NATS server with the streams, which takes only the identities
// of its authority, and ingest on a SQLite store, which takes only commands
// signed by a registered emitter. It returns the server's address and the
// emitter identity's creds file; stop drains ingest, then closes the store
// and the server.
func startNode(ctx context.Context, dir string, emitter intake.RegistryEntry) (url, creds string, stop func()) {
	auth, _, err := natsbus.OpenAuthority(filepath.Join(dir, "keys"))
	if err != nil {
		log.Fatal(err)
	}
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "nats"), Authority: auth})
	if err != nil {
		log.Fatal(err)
	}
	registryFile := filepath.Join(dir, "emitters.json")
	b, _ := json.Marshal([]intake.RegistryEntry{emitter})
	if err := os.WriteFile(registryFile, b, 0o600); err != nil {
		log.Fatal(err)
	}
	registry, err := intake.LoadRegistry(registryFile)
	if err != nil {
		log.Fatal(err)
	}
	nc, err := natsbus.Connect(ns.ClientURL(), "ingest", ns.Self...)
	if err != nil {
		log.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx, js, natsbus.Defaults); err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	svc, err := ingest.New(nc, store, ingest.Config{Emitters: registry})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	return ns.ClientURL(), filepath.Join(auth.Dir(), natsbus.RoleEmitter+".creds"), func() {
		cancel()
		if err := <-done; err != nil {
			log.Print(err)
		}
		store.Close()
		nc.Close()
		ns.Shutdown()
	}
}
