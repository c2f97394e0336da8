package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/caseledger/caseledger/services/ledger"
	"github.com/google/uuid"
)

// maintenanceStream records what operators did to the store itself.
const maintenanceStream = "store-maintenance"

// runStore runs the embedded store's maintenance: restore-schema puts back
// the schema objects an insider altered (serve refuses to write until it
// is done), then records, as an event in the record itself, what it found
// and who restored it, so that the ledger logs it and every later audit
// sees it.
func runStore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "restore-schema" {
		return fmt.Errorf("%w: caseledger store restore-schema [--data-dir DIR] [--operator NAME]", errUsage)
	}
	f := newFlags("store restore-schema", getenv, stderr)
	operator := getenv("USER")
	f.StringVar(&operator, "operator", operator, "who restores the schema, named in the record (default $USER)")
	if err := f.parse(args[1:], 0, func() error {
		var errs []error
		if f.store.EventStoreURL != "" {
			errs = append(errs, errors.New("restore-schema is for the embedded store; EventStoreDB/KurrentDB has no schema of caseledger's"))
		}
		if operator == "" {
			errs = append(errs, errors.New("--operator NAME is required: the record says who restored the schema"))
		}
		return errors.Join(errs...)
	}); err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, f.store.EventsFile(), sqlite.Options{RestoreSchema: true})
	if err != nil {
		return err
	}
	defer st.Close()
	wk, err := writerKeys(f.store)
	if err != nil {
		return err
	}
	signed := ledger.SigningStore{Store: st, Writer: wk.Signer}
	if len(st.Restored) == 0 {
		fmt.Fprintln(stdout, "the store's schema is whole: nothing to restore")
		return nil
	}
	now := time.Now().UTC()
	data, _ := json.Marshal(map[string]any{"found": st.Restored, "restored_at": now.Format(time.RFC3339Nano)})
	meta, _ := json.Marshal(map[string]any{"recorded_at": now.Format(time.RFC3339Nano), "actor": map[string]string{"user_id": operator, "role": "admin"},
		"source_system": "caseledger store restore-schema"})
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	if _, err := signed.Append(ctx, maintenanceStream, eventstore.Any, []eventstore.EventData{{ID: id, Type: "store.schema_restored", Data: data, Metadata: meta}}); err != nil {
		return fmt.Errorf("the schema was restored but the record could not say so: %w", err)
	}
	for _, p := range st.Restored {
		fmt.Fprintf(stdout, "restored: %s\n", p)
	}
	fmt.Fprintf(stdout, "recorded in stream %s (event %s). While the schema was altered, rows could be rewritten or deleted: run caseledger verify now, and compare with the witnesses' view.\n", maintenanceStream, id)
	return nil
}
