package mst

import (
	"strings"
	"testing"
)

// TestDecodeHeadSizes decodes nodes whose key suffixes and prefix lengths
// take one-, two- and three-byte heads (the decoder's fast path reads the
// first two, the general reader the rest), and every one-byte change of the
// small ones: an accepted node must hold the keys and links it encodes, and
// a changed node is either refused or re-encodes to exactly its bytes.
func TestDecodeHeadSizes(t *testing.T) {
	val, sub := sumCID([]byte("v")), sumCID([]byte("t"))
	for _, base := range []int{0, 20, 21, 22, 23, 24, 25, 200, 253, 254, 255, 300, 600} {
		for _, tail := range []int{1, 22, 23, 24, 25, 255, 256, 400} {
			pre := "c/" + strings.Repeat("a", base)
			keys := []string{
				pre + strings.Repeat("b", tail),
				pre + strings.Repeat("b", tail) + "c", // shares all of the previous key
				pre + "c" + strings.Repeat("d", tail), // shares pre
			}
			n := &node{height: 1, left: ref{cid: sub}}
			for i, k := range keys {
				e := entry{key: k, val: val}
				if i != 1 {
					e.right = ref{cid: sub}
				}
				n.entries = append(n.entries, e)
			}
			data := appendNode(nil, n)
			got, err := decodeNode(data, sumCID(data), true, 1)
			if err != nil {
				t.Fatalf("base %d, tail %d: %v", base, tail, err)
			}
			if len(got.entries) != len(keys) || got.left.cid != sub {
				t.Fatalf("base %d, tail %d: %d entries", base, tail, len(got.entries))
			}
			for i, e := range got.entries {
				if e.key != keys[i] || e.val != val || e.right.cid.Defined() != (i != 1) || (i != 1 && e.right.cid != sub) {
					t.Fatalf("base %d, tail %d: entry %d is %q", base, tail, i, e.key)
				}
			}
			if base > 25 || tail > 25 {
				continue
			}
			m := make([]byte, len(data))
			for i := range data {
				for _, b := range []byte{data[i] ^ 1, data[i] + 1, data[i] - 1, 0x18, 0x58, 0xf6, 0x41} {
					copy(m, data)
					m[i] = b
					n2, err := decodeNode(m, sumCID(m), true, 1)
					if err == nil && string(appendNode(nil, n2)) != string(m) {
						t.Fatalf("base %d, tail %d: byte %d set to %#x: accepted, re-encodes differently", base, tail, i, b)
					}
				}
			}
		}
	}
}
