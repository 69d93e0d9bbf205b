// Package pact implements the chirping and tracing layers of PACT, Private
// Automated Contact Tracing, version 0.1: hourly seeds, the chirp function
// PRF(seed, minute), the seed and contact logs, upload bundles, and the
// matcher that finds uploaded chirps in a contact log.
//
// The normative description, with the section numbers that doc comments cite
// as "spec §N", is docs/protocol.md. Test vectors live in testdata/vectors.
//
// This package holds only protocol math, types, validation and the logic of
// the logs. Storage sits behind the SeedStore and ContactStore interfaces;
// internal/devicedb implements them on SQLite.
package pact
