// Package ucan implements UCAN 1.0 delegations, invocations, the policy
// language, proof-chain validation and revocation
// (https://github.com/ucan-wg/spec v1.0.0,
// https://github.com/ucan-wg/delegation, https://github.com/ucan-wg/invocation).
package ucan
