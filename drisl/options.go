package drisl

// Default limits for decoding. They bound memory for any input: a decoder
// never allocates more than the input's length allows, and these stop deep
// recursion and giant containers before they are built.
const (
	DefaultMaxDepth        = 128
	DefaultMaxContainerLen = 1 << 20
	DefaultMaxInputBytes   = 8 << 20

	// MaxDepthLimit caps MaxDepth in both options: recursion deeper than
	// this could exhaust the goroutine stack, which no option may allow.
	MaxDepthLimit = 10000
)

// DecOptions configures a strict decode. The zero value means the defaults.
type DecOptions struct {
	// MaxDepth bounds the nesting of arrays and maps (default 128, at most
	// MaxDepthLimit).
	MaxDepth int
	// MaxContainerLen bounds the number of elements of one array or the
	// number of pairs of one map (default 1<<20).
	MaxContainerLen int
	// MaxInputBytes bounds the whole input (default 8 MiB).
	MaxInputBytes int
	// AllowBLAKE3 accepts CIDs whose multihash is BLAKE3-256 (0x1e), which
	// DASL CIDs allow but atproto does not.
	AllowBLAKE3 bool
	// DisallowUnknownFields makes decoding into a struct fail on a map key
	// that names no field, instead of skipping it.
	DisallowUnknownFields bool
	// OrderedMaps makes every map of the generic value model (decoded into
	// an empty interface, at any depth) a Map, its entries in wire order,
	// instead of a map[string]any. Decoding into a Map does this for the
	// values inside it without the option.
	OrderedMaps bool
	// NoCopyStrings makes the decoded strings (text strings, map keys and
	// string fields) share the input's memory instead of a copy
	// of it: one allocation and copy of the input fewer per decode. The
	// caller must then never modify the input while a decoded value may be
	// in use: Go strings are immutable, and one whose bytes change breaks
	// the comparisons and maps that hold it. It is for input the caller
	// owns and never writes again, such as its own private copy.
	NoCopyStrings bool
}

func (o DecOptions) withDefaults() DecOptions {
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(o.MaxDepth, MaxDepthLimit)
	if o.MaxContainerLen <= 0 {
		o.MaxContainerLen = DefaultMaxContainerLen
	}
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = DefaultMaxInputBytes
	}
	return o
}

// EncOptions configures encoding. The zero value means the defaults.
type EncOptions struct {
	// AllowBLAKE3 accepts links whose multihash is BLAKE3-256, which DASL
	// CIDs allow and atproto does not. By default Marshal refuses them, so it
	// never writes what Unmarshal with default options would reject.
	AllowBLAKE3 bool
	// MaxDepth bounds the nesting of arrays and maps (default 128, as for
	// decoding), so Marshal never writes what Unmarshal would refuse, and a
	// value that contains itself is an error instead of a stack overflow; at
	// most MaxDepthLimit.
	MaxDepth int
}
