// Package mst implements the Merkle Search Tree of atproto repositories: a
// sorted map from repo paths ("collection/rkey") to record CIDs whose root
// CID a commit signs. It follows the repository spec,
// https://atproto.com/specs/repository, and the sync 1.1 inversion rules of
// https://atproto.com/specs/sync.
//
// # The tree
//
// A key's layer is the number of leading zero bits of SHA-256(key) counted
// in 2-bit steps (fanout 4; KeyHeight). A node holds the keys of one layer
// within a key range, in order, with links to the subtrees (one layer down)
// in the gaps between them. Nodes are DRISL maps {"l": link|null, "e":
// [{"p": prefix length, "k": key suffix, "v": value link, "t": link|null}]},
// each key stored as the bytes it shares with the previous key plus the rest.
// The encoding is written by hand in this package (the shape is small and
// fixed) and tested to be byte-identical to package drisl's.
//
// A *Tree is immutable and persistent: Put and Delete return a new tree that
// shares every unchanged node with the old one, so any earlier root stays
// readable for diffs, proofs and rollbacks. Trees are lazy: Load reads
// nothing until asked, nodes are fetched from a BlockSource on demand and
// kept in a bounded cache (Options.CacheNodes), and an operation reads only
// the O(log n) nodes on its path. New nodes live in memory, are hashed by
// Root, and are never written behind the caller's back: NewBlocks (or
// WriteBlocks) returns exactly the nodes a store holding the base tree lacks,
// so a caller can write them together with its commit in one transaction.
// An Editor applies a batch of changes faster: it changes in place the
// nodes it created itself, and a batch on an empty tree (building a tree
// from a key set, importing a repo) is collected and built in one pass over
// the sorted keys. LoadRoot opens another root (an earlier or later commit)
// through the same source and cache.
//
//	t := mst.Load(store, root)                       // lazy
//	t2, prev, err := t.Put(ctx, "app.bsky.feed.post/3k2a", recordCID)
//	newRoot, err := t2.Root(ctx)
//	blocks, err := t2.NewBlocks(ctx, t)              // write these with the commit
//
// Reading: Get, Walk (all keys in order), List (prefix, cursor, limit,
// reverse: listRecords over one collection), WalkBlocks (every node, lazily,
// for a CAR export in bounded memory). Comparing: Diff returns the
// ordered creates, updates and deletes between two trees, opening only
// subtrees whose CIDs differ. Proving: Prove returns the nodes on the path
// to a key and VerifyProof checks them against a root, proving a value or an
// absence. Sync 1.1: InversionBlocks returns the blocks a #commit message
// must carry for a batch of ops (the reference's covering proofs: the paths
// to each key and to its neighbours, which hold every node the inversion
// reads), and Invert applies the ops backwards on the partial tree those
// blocks form, giving the previous root; it reads only the nodes any
// inversion needs, whatever the order of the ops, so it also accepts a
// message trimmed of covering-proof nodes it does not need. Both match the
// interop fixtures exactly.
//
// # Keys
//
// ValidateKey follows the TypeScript reference's isValidMstKey: at most 1024
// bytes, exactly one '/', and non-empty collection and record key made of
// A-Z a-z 0-9 and "_~-:.". The collection is not parsed as an NSID, because
// the reference accepts such trees and the interop vectors use keys like
// "A0/374913"; package repo checks NSIDs and record keys. indigo's
// atproto/syntax is therefore not used here.
//
// # Strict loading
//
// Every node read from a BlockSource is checked before use, and a bad one is
// reported with a *NodeError (wrapping ErrInvalidNode) naming the Rule it
// broke, never a panic: the bytes must hash to the CID; be exactly the
// canonical DRISL node shape; links must be CIDv1 sha2-256 (dag-cbor for
// child links); keys must be valid, on the node's layer, strictly increasing
// and inside the range of the gap that points to the node (a child on the
// wrong side); prefix lengths may not exceed the previous key and must be
// exactly the shared prefix (minimal compression); an intermediate node may
// not be empty; layer-0 nodes have no children; the root must hold entries
// unless the tree is empty. (indigo panics on a prefix longer than the
// previous key; the TypeScript reference accepts non-canonical trees.)
//
// These checks are the default. A caller whose BlockSource only holds blocks
// that were checked when written (nodes this package encoded, or a store
// that verified its imports) may set Options.InsecureTrustSource: the tree then
// skips the two SHA-256 checks, each block's hash and the layer of every
// key (a node's layer is then its place in the tree), which are most of the
// cost of a cold read. Every other rule is still checked, so a bad block is
// still an error and never a panic, but a block under the wrong CID or a
// node with keys on mixed layers is then accepted. Never set it for blocks
// from the network or a CAR file. (This is what indigo does: its block
// reads check no hash, and it hashes one key per node for the layer.)
// A caller that checked every block's hash itself (package repo hashes
// the blocks of a sync event in one batch) sets Options.InsecureSkipHashCheck
// instead: only each block's hash is skipped, every other check stays.
//
// Diff (and NewBlocks) on a strict source defers both checks: it decodes
// each node as a trusted read would, keeps it out of the shared cache, and
// checks the hashes and layers of every 64 nodes read in one batch (see
// Hashing); a failure discards the walk and is reported as an eager read
// would report it, naming the first bad node in read order.
//
// # Diff's nodes
//
// A cold Diff reads hundreds of nodes and looks at each entry once, so it
// does not decode them into keys and links as other reads do: it keeps
// each block as the BlockSource returned it (never copied; see
// BlockSource) with the offsets of each entry's key suffix and links (16
// bytes per entry, no pointers) in a buffer of its walker, after the same
// checks with the same errors. Links are read in place; keys are rebuilt
// from their prefixes into another buffer of the walker, which holds the
// keys of the nodes on its path (the ops get copies). A node read this way
// costs no allocation: only its checked block enters the cache, and a later
// operation, or a second Diff, that reads it decodes it from there (no
// read, no hashing but its first key's layer).
//
// # Hashing
//
// SHA-256 is most of the cost of building a tree: one hash per key (its
// layer) and one per node (its CID). crypto/sha256 hashes one message at a
// time; on CPUs without the SHA extensions that is a chain of dependent
// scalar steps. This package therefore hashes independent messages eight
// at a time in the 32-bit lanes of AVX2 registers (internal/sha256x8,
// written from FIPS 180-4 because no library in the module graph does
// multi-message hashing, and tested against crypto/sha256): a bulk build
// hashes all keys in one batch, Root hashes new nodes rank by rank,
// children before parents, each node encoded and hashed exactly once, a
// strict read hashes a node's keys in one batch (the layer of each), and a
// strict Diff checks the blocks it read in batches.
// Without AVX2, or with the purego build tag, crypto/sha256 is used.
//
// # Errors
//
// Missing blocks wrap ErrNotFound, bad keys are *KeyError (ErrInvalidKey),
// bad nodes are *NodeError (ErrInvalidNode), failed checks of proofs and
// inversions wrap ErrProof.
//
// # Limits
//
// A tree is safe for concurrent use; an Editor is not. Root hashes new nodes
// under a lock shared by the trees derived from one Load or Empty call.
// Memory is bounded by the cache plus the new nodes of the trees a caller
// holds: once their blocks are stored, Stored returns the same tree without
// them (they move to the cache), so a long-lived tree stays small. Keys are
// Go strings compared bytewise, as the spec orders them. Nodes larger than
// MaxNodeBytes (8 MiB) are rejected. Every node read is hash-checked and
// every key's layer recomputed, so a first (cold) read costs two SHA-256
// passes (none with Options.InsecureTrustSource; batched in Diff); the cache
// makes later reads free of both. A decoded node holds its keys and links
// in one string; a node a Diff read is cached as its block (see Diff's
// nodes).
package mst
