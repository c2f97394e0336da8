// Package services holds the long-running roles that connect caseledger to
// the outside: ingest (NATS intake to the event store), relay (the store's
// log to NATS), ledger (the Merkle log and signed checkpoints) and api (HTTP),
// each in its own sub-package.
//
// Services may import domain, eventstore and projections. They never log,
// publish or return personal data outside an authorised read: ids only.
package services
