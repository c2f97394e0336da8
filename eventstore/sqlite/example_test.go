package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	"github.com/google/uuid"
)

// ExampleStore appends to a case stream with expected versions, as every
// writer of the record does (eventstore.Store), and reads the stream back.
func ExampleStore() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "caseledger-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	stream := "case-0190f3a4-5b6c-7d8e-9f00-112233445566"
	opened := eventstore.EventData{
		ID:       uuid.MustParse("6f1c2d3e-4f50-5617-8899-aabbccddeeff"),
		Type:     "case.opened",
		Data:     []byte(`{"module":"victim_support","agency":"spvl"}`),
		Metadata: []byte(`{"schema_version":1}`),
	}
	assigned := eventstore.EventData{
		ID:       uuid.MustParse("7a2b3c4d-5e6f-5071-8293-a4b5c6d7e8f9"),
		Type:     "case.assigned",
		Data:     []byte(`{"assignee":"sw-07","agency":"spvl"}`),
		Metadata: []byte(`{"schema_version":1}`),
	}

	// The first event expects no stream; each next one, the version of the
	// event it was decided after.
	if _, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.EventData{opened}); err != nil {
		log.Fatal(err)
	}
	res, err := store.Append(ctx, stream, eventstore.Exact(0), []eventstore.EventData{assigned})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended at version", res.FirstVersion)

	// A writer that decided on a stale state is refused, with the versions.
	_, err = store.Append(ctx, stream, eventstore.Exact(0), []eventstore.EventData{{
		ID: uuid.MustParse("8b3c4d5e-6f70-5182-93a4-b5c6d7e8f901"), Type: "case.note_added",
		Data: []byte(`{}`), Metadata: []byte(`{"schema_version":1}`),
	}})
	var wrong *eventstore.WrongVersionError
	if errors.As(err, &wrong) {
		fmt.Println("refused: expected", wrong.Expected, "actual", wrong.Actual)
	}

	// A retry of an append already stored is absorbed.
	res, err = store.Append(ctx, stream, eventstore.NoStream, []eventstore.EventData{opened})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retry is a duplicate:", res.Duplicate, "at version", res.FirstVersion)

	recs, err := store.ReadStream(ctx, stream, 0, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		fmt.Println(r.Version, r.Type)
	}
	fmt.Println("chain intact:", eventstore.VerifyStream(recs) == nil)
	// Output:
	// appended at version 1
	// refused: expected 0 actual 1
	// retry is a duplicate: true at version 0
	// 0 case.opened
	// 1 case.assigned
	// chain intact: true
}
