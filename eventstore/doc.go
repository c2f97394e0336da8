// Package eventstore is the contract of caseledger's record: append with an
// expected version, read a stream, read and subscribe to the global log, and
// the per-case hash chain that lets an auditor prove nothing was altered,
// removed or reordered. Backends live in sub-packages, one per outside
// dependency (eventstore/sqlite, eventstore/kurrent), and every one of them
// runs the conformance suite in eventstore/storetest.
//
// It stores bytes and type names and never imports domain.
package eventstore
