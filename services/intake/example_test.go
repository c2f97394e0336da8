package intake_test

import (
	"context"
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
	url, stop := startNode(ctx, dir)
	defer stop()

	// An emitter connects with intake.Dial and its credentials.
	nc, err := intake.Dial(url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	client, err := intake.New(nc)
	if err != nil {
		log.Fatal(err)
	}
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
// embedded NATS server with the streams, and ingest on a SQLite store. It
// returns the server's address; stop drains ingest, then closes the store
// and the server.
func startNode(ctx context.Context, dir string) (url string, stop func()) {
	ns, err := natsbus.StartEmbedded(natsbus.EmbeddedConfig{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		log.Fatal(err)
	}
	nc, err := natsbus.Connect(ns.ClientURL(), "ingest")
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
	svc, err := ingest.New(nc, store, ingest.Config{})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	return ns.ClientURL(), func() {
		cancel()
		if err := <-done; err != nil {
			log.Print(err)
		}
		store.Close()
		nc.Close()
		ns.Shutdown()
	}
}
