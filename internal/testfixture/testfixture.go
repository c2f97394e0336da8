// Package testfixture makes what many tests start from: an embedded store
// in a temporary directory holding generated cases, and a SQLite read-model
// database beside it. Real implementations, no mocks.
package testfixture

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/domain/gen"
	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/eventstore/sqlite"
	_ "modernc.org/sqlite" // the read models' driver
)

// Store opens an embedded store in a temporary directory, closed when the
// test ends.
func Store(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Append records each case's events in its stream, one append per case.
func Append(t testing.TB, st eventstore.Store, cases []gen.Case) {
	t.Helper()
	for _, c := range cases {
		var data []eventstore.EventData
		for _, e := range c.Events() {
			typ, d, m, err := domain.EncodeStored(e)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, eventstore.EventData{ID: e.ID, Type: typ, Data: d, Metadata: m})
		}
		if _, err := st.Append(context.Background(), domain.StreamName(c.ID), eventstore.NoStream, data); err != nil {
			t.Fatal(err)
		}
	}
}

// Cases generates n cases from seed.
func Cases(t testing.TB, seed uint64, n int) []gen.Case {
	t.Helper()
	cases, err := gen.New(seed).Cases(n)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// Generated is a fresh store holding n cases generated from seed.
func Generated(t testing.TB, seed uint64, n int) (*sqlite.Store, []gen.Case) {
	t.Helper()
	st := Store(t)
	cases := Cases(t, seed, n)
	Append(t, st, cases)
	return st, cases
}

// ReadModels opens a SQLite read-model database in a temporary directory
// (one connection, as caseledger uses it), closed when the test ends.
func ReadModels(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "readmodels.db")+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}
