// Package projections builds read models (the current case, timelines,
// worklists, dashboard metrics) from the event store's global subscription,
// writing each model's checkpoint in the same transaction as its rows.
//
// It may import domain and eventstore. It never writes to the event store and
// never decides anything: it only folds what was recorded.
package projections
