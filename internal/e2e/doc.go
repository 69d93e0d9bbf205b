// Package e2e holds the end-to-end tests of a node (issue 8, "Tested for
// real", Browser): headless Chromium drives the dashboard of a real
// internal/node.Node, with its SQLite device database, that syncs from and
// shares with a real exposure server (demo.StartExposureServer) on
// loopback. There is no test backend: what the browser shows is what the
// node stored. The package has no code of its own; see its tests.
package e2e
