// Package repo hosts atproto repositories: storage (in memory and SQLite),
// signed commits, CAR import and export, record proofs and sync 1.1 events
// (https://atproto.com/specs/repository, https://atproto.com/specs/sync).
//
// This documentation grows with the package; see the final version for the
// storage schema, the atomicity argument and the driver figures.
package repo
