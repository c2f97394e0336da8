package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The store's schema backs the record's invariants (the immutability
// triggers, the unique indexes). An insider with sqlite3 can drop them,
// write, and put nothing back; so a writer checks, at open, that the file
// holds exactly the schema objects this build makes, and refuses to write
// until an operator restores them (RestoreSchema), which the record then
// says. Readers report what they find (Integrity) without refusing, so that
// an auditor can still read the file to investigate.

// ErrSchemaAltered is returned by Open for writing when the file's schema
// differs from the one this build makes (a trigger dropped or replaced, an
// index missing, an object added); the *SchemaError names each difference.
var ErrSchemaAltered = errors.New("sqlite: the event store's schema was altered")

// SchemaError lists how a store's schema differs from the expected one.
type SchemaError struct {
	Path     string
	Problems []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("sqlite: the event store's schema was altered in %s: %s; nothing is written until an operator, having investigated, restores it with `caseledger store restore-schema` (the record keeps that it did)",
		e.Path, strings.Join(e.Problems, "; "))
}

func (e *SchemaError) Unwrap() error { return ErrSchemaAltered }

// schemaObject is one row of sqlite_schema.
type schemaObject struct{ kind, name, table, sql string }

func (o schemaObject) String() string { return o.kind + " " + o.name }

func readSchema(ctx context.Context, db *sql.DB) (map[string]schemaObject, error) {
	// SQLite's own statistics tables (sqlite_stat1, 4) come and go with
	// ANALYZE; nothing else is passed over (GLOB, unlike LIKE, is exact
	// and case-sensitive: a trigger named sqlite-stat5 is still seen).
	rows, err := db.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema WHERE NOT (type = 'table' AND name GLOB 'sqlite_stat[0-9]*')`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]schemaObject{}
	for rows.Next() {
		var o schemaObject
		if err := rows.Scan(&o.kind, &o.name, &o.table, &o.sql); err != nil {
			return nil, err
		}
		out[o.name] = o
	}
	return out, rows.Err()
}

// expectedSchema is the schema this build makes, read back from a fresh
// in-memory database, so that it is compared as SQLite stores it.
func expectedSchema(ctx context.Context) (map[string]schemaObject, error) {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, err
	}
	return readSchema(ctx, db)
}

// schemaProblems compares db's schema with the expected one.
func schemaProblems(ctx context.Context, db *sql.DB) ([]string, error) {
	want, err := expectedSchema(ctx)
	if err != nil {
		return nil, err
	}
	have, err := readSchema(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, w := range want {
		h, ok := have[name]
		switch {
		case !ok:
			out = append(out, w.String()+" is missing")
		case h.kind != w.kind || h.table != w.table || h.sql != w.sql:
			out = append(out, w.String()+" was replaced")
		}
	}
	for name, h := range have {
		if _, ok := want[name]; !ok {
			out = append(out, h.String()+" was added")
		}
	}
	slices.Sort(out)
	return out, nil
}

// Integrity reports how the store's schema differs from the one this build
// makes (nothing when it is whole). A store opened for writing is whole, or
// Open refused it.
func (s *Store) Integrity(ctx context.Context) ([]string, error) {
	return schemaProblems(ctx, s.rdb)
}

// restoreSchema drops every trigger and index of the events table that is
// not the expected one, then creates the expected objects again; it
// returns what it found wrong. It runs on the writer's connection before
// the writer starts.
func (s *Store) restoreSchema(ctx context.Context) ([]string, error) {
	problems, err := schemaProblems(ctx, s.wdb)
	if err != nil || len(problems) == 0 {
		return problems, err
	}
	want, err := expectedSchema(ctx)
	if err != nil {
		return nil, err
	}
	have, err := readSchema(ctx, s.wdb)
	if err != nil {
		return nil, err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for name, h := range have {
		if w, ok := want[name]; (ok && w.sql == h.sql) || (h.kind != "trigger" && h.kind != "index") || strings.HasPrefix(name, "sqlite_autoindex") {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DROP %s "%s"`, strings.ToUpper(h.kind), strings.ReplaceAll(name, `"`, `""`))); err != nil {
			return nil, fmt.Errorf("sqlite: drop %s: %w", h, err)
		}
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("sqlite: restore the schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	left, err := schemaProblems(ctx, s.wdb)
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		return nil, &SchemaError{Path: s.path, Problems: left}
	}
	return problems, nil
}
