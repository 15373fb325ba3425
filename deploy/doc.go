// Package deploy holds no code: it is the home of the tests that check
// Flint's deployment files (k8s/, templates/, systemd/) — strict decoding of
// every Kubernetes manifest against the API types, the cross-references a
// user relies on, and the systemd units. It is a module of its own so that
// the main module does not carry the Kubernetes API dependency.
package deploy
