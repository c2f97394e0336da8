// Package eventstore is the contract of caseledger's record: append with an
// expected version, read a stream, read and subscribe to the global log, and
// the per-case hash chain. Backends live in sub-packages, one per outside
// dependency, and all run the same conformance suite.
//
// It stores bytes and type names and never imports domain.
package eventstore
