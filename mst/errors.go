package mst

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// ErrNotFound is wrapped by every error that reports a missing block: a
// BlockSource returns it for a CID it does not hold, and tree operations pass
// it on (wrapped) when a node they need is absent, as in a partial tree.
var ErrNotFound = errors.New("mst: block not found")

// ErrInvalidKey is wrapped by every *KeyError.
var ErrInvalidKey = errors.New("mst: invalid key")

// ErrInvalidNode is wrapped by every *NodeError: a block that is not a
// canonical MST node in its place in the tree.
var ErrInvalidNode = errors.New("mst: invalid node")

// ErrProof is wrapped by errors that report a proof or an inversion that does
// not hold: a value that differs from the one claimed, or a root that does not
// match.
var ErrProof = errors.New("mst: proof does not verify")

// KeyError reports a key that is not a valid MST key (see ValidateKey).
type KeyError struct {
	Key    string // the key, truncated to 80 bytes
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("mst: invalid key %q: %s", e.Key, e.Reason)
}

// Unwrap returns ErrInvalidKey.
func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// Rule names the structural rule a node broke.
type Rule string

// The rules checked when a node is loaded.
const (
	RuleEncoding      Rule = "encoding"             // not the DRISL node shape {e, l} / {k, p, t, v}
	RuleHash          Rule = "hash"                 // the bytes do not hash to the CID they were fetched by
	RuleLink          Rule = "link"                 // a link is not an atproto CID (CIDv1, dag-cbor/raw, sha2-256)
	RuleKey           Rule = "key"                  // a key is not a valid MST key
	RuleKeyHeight     Rule = "key height"           // a key is on the wrong layer
	RuleKeyOrder      Rule = "key order"            // keys are unsorted or duplicated
	RulePrefixLength  Rule = "prefix length"        // p is longer than the previous key
	RulePrefixMinimal Rule = "prefix compression"   // p is shorter than the shared prefix
	RuleEmptyNode     Rule = "empty node"           // an intermediate node has neither entries nor children
	RuleChildSide     Rule = "child range"          // a subtree holds a key outside the gap that points to it
	RuleLeafChild     Rule = "child below layer 0"  // a layer-0 node points to a child
	RuleUntrimmedRoot Rule = "root without entries" // the root holds only a left child
	RuleDepth         Rule = "depth"                // more layers than SHA-256 allows
)

// NodeError reports a block that is not a canonical MST node at its place in
// the tree. Entry is the index of the offending entry, or -1 for the node as
// a whole.
type NodeError struct {
	CID    cid.Cid
	Rule   Rule
	Entry  int
	Detail string
}

func (e *NodeError) Error() string {
	s := fmt.Sprintf("mst: invalid node %s: %s", e.CID, e.Rule)
	if e.Entry >= 0 {
		s += fmt.Sprintf(" (entry %d)", e.Entry)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns ErrInvalidNode.
func (e *NodeError) Unwrap() error { return ErrInvalidNode }

func nodeErr(c cid.Cid, rule Rule, entry int, format string, args ...any) *NodeError {
	return &NodeError{CID: c, Rule: rule, Entry: entry, Detail: fmt.Sprintf(format, args...)}
}
