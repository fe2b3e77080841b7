// Package tour is the API tour of the top-level README.md as a runnable,
// tested Example (tour_test.go): create a community, grant a member a role,
// write, verify as an outsider, and migrate to another host. A test checks
// that the README shows exactly the Example's code, so neither can rot
// without the other.
package tour
