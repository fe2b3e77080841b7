// Package interop checks Townhall's outputs against the TypeScript reference
// implementations of atproto, DRISL, did:plc and UCAN.
//
// The checks are Go tests behind the build tag "interop": they generate fresh
// random cases with a seed (INTEROP_SEED), hand them to a small Node harness in
// node/ (run with the exact npm versions of package-lock.json), and compare the
// verdicts. They need node and an installed node_modules, so the plain
// `go test ./...` run never builds them; run the suite with interop/run.
// See README.md for what each family of cases checks.
//
// # Limits
//
// The suite needs node 20 or later and npm, and interop/run fetches the
// exact npm packages of package-lock.json (npm ci), so unlike the rest of
// the module it needs the network once per clean checkout. It compares
// verdicts on random cases, not exhaustively: a disagreement it does not
// draw is not found, which is why every run uses a fresh seed and prints it.
package interop
