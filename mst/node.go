package mst

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/internal/sha256x8"
)

// ref points to a subtree: by CID (not loaded, or loaded and cached in the
// store), by in-memory node, or both. The zero ref is the empty subtree.
type ref struct {
	cid cid.Cid
	n   *node
}

func (r ref) empty() bool { return r.n == nil && !r.cid.Defined() }

// id returns the subtree's CID; for an in-memory node it must have been
// hashed (see hashNew).
func (r ref) id() cid.Cid {
	if r.n != nil {
		return r.n.cid
	}
	return r.cid
}

type entry struct {
	key   string
	val   cid.Cid
	right ref // subtree of keys between key and the next entry's key
}

// node is one MST node. Nodes reachable from a Tree are never modified,
// except the memoised cid of a new node, which hashNew sets once. An
// Editor modifies in place only the nodes it created itself (owner).
type node struct {
	left    ref // subtree of keys below the first entry
	entries []entry
	cid     cid.Cid // undefined until a new node is hashed
	owner   *token  // the Editor allowed to modify this node in place
	height  int     // layer of the entries; -1 for a loaded node without entries
}

// token identifies one Editor generation; see Editor.
type token struct{ _ byte }

// gap returns the subtree pointer in gap i: below entries[i] and above
// entries[i-1].
func (n *node) gap(i int) ref {
	if i == 0 {
		return n.left
	}
	return n.entries[i-1].right
}

func (n *node) setGap(i int, r ref) {
	if i == 0 {
		n.left = r
	} else {
		n.entries[i-1].right = r
	}
}

// search returns the number of entries with a key below k, and whether
// entries[i] is k.
func (n *node) search(k string) (int, bool) {
	lo, hi := 0, len(n.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.entries[m].key < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.entries) && n.entries[lo].key == k
}

// gapBounds returns the exclusive key bounds of gap i, given the node's own.
func (n *node) gapBounds(i int, lo, hi string) (string, string) {
	if i > 0 {
		lo = n.entries[i-1].key
	}
	if i < len(n.entries) {
		hi = n.entries[i].key
	}
	return lo, hi
}

// MaxNodeBytes bounds the size of a node block the loader accepts: package
// drisl's default input limit (8 MiB).
const MaxNodeBytes = 8 << 20

// Node encoding. The shape is fixed: {"e": [{"k","p","t","v"}...], "l"},
// keys in DRISL order (length first, then bytewise).
const (
	cborMap2  = 0xa2
	cborMap4  = 0xa4
	cborNull  = 0xf6
	majUint   = 0
	majBytes  = 2
	majArray  = 4
	linkTag0  = 0xd8
	linkTag1  = 0x2a
	textLen1  = 0x61
	codecDag  = 0x71
	codecRaw  = 0x55
	sha256Mh  = 0x12
	digestLen = 32
)

func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n < 1<<8:
		return append(dst, m|24, byte(n))
	case n < 1<<16:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n < 1<<32:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendLink(dst []byte, c cid.Cid) []byte {
	s := c.KeyString()
	dst = append(dst, linkTag0, linkTag1)
	dst = appendHead(dst, majBytes, uint64(len(s)+1))
	dst = append(dst, 0)
	return append(dst, s...)
}

func appendRef(dst []byte, r ref) []byte {
	if r.empty() {
		return append(dst, cborNull)
	}
	return appendLink(dst, r.id())
}

// appendNode appends the DRISL encoding of n. Every child must have a CID.
func appendNode(dst []byte, n *node) []byte {
	dst = append(dst, cborMap2, textLen1, 'e')
	dst = appendHead(dst, majArray, uint64(len(n.entries)))
	prev := ""
	for i := range n.entries {
		e := &n.entries[i]
		p := CommonPrefixLen(prev, e.key)
		dst = append(dst, cborMap4, textLen1, 'k')
		dst = appendHead(dst, majBytes, uint64(len(e.key)-p))
		dst = append(dst, e.key[p:]...)
		dst = append(dst, textLen1, 'p')
		dst = appendHead(dst, majUint, uint64(p))
		dst = append(dst, textLen1, 't')
		dst = appendRef(dst, e.right)
		dst = append(dst, textLen1, 'v')
		dst = appendLink(dst, e.val)
		prev = e.key
	}
	dst = append(dst, textLen1, 'l')
	return appendRef(dst, n.left)
}

// sumCID returns the dag-cbor CIDv1 (sha2-256) of data.
func sumCID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return sumToCID(&sum)
}

// sumToCID returns the dag-cbor CIDv1 whose sha2-256 digest is sum.
func sumToCID(sum *[32]byte) cid.Cid {
	var buf [36]byte
	buf[0], buf[1], buf[2], buf[3] = 0x01, codecDag, sha256Mh, digestLen
	copy(buf[4:], sum[:])
	return cidFromBinary(string(buf[:]))
}

// cidFromBinary returns the CID whose binary form is s, which the caller has
// checked to be a CIDv1 with a sha2-256 multihash: 0x01, a one-byte codec,
// 0x12, 0x20 and 32 bytes of digest, which always form a valid CID.
//
// cid.Cast would parse the varints again and copy the bytes into a new
// string, one allocation per link; a decoded node instead keeps all its links
// as substrings of one string. cid.Cid is a struct holding exactly its binary
// form as a string, so s converts in place; cidLayoutOK checks this once, and
// the function falls back to cid.Cast if a go-cid release changes it.
func cidFromBinary(s string) cid.Cid {
	if cidLayoutOK {
		return *(*cid.Cid)(unsafe.Pointer(&s))
	}
	c, err := cid.Cast([]byte(s))
	if err != nil {
		return cid.Undef // unreachable: the caller checked the form
	}
	return c
}

var cidLayoutOK = func() bool {
	if unsafe.Sizeof(cid.Cid{}) != unsafe.Sizeof("") {
		return false
	}
	var buf [36]byte
	buf[0], buf[1], buf[2], buf[3] = 0x01, codecDag, sha256Mh, digestLen
	for i := 4; i < len(buf); i++ {
		buf[i] = byte(i * 7)
	}
	want, err := cid.Cast(buf[:])
	if err != nil {
		return false
	}
	s := string(buf[:])
	got := *(*cid.Cid)(unsafe.Pointer(&s))
	return got == want && got.KeyString() == s && got.String() == want.String() && got.Prefix() == want.Prefix()
}()

// keySuffixOK reports whether every byte of s is allowed in a key and is
// not '/'.
func keySuffixOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if !keyChar[s[i]] {
			return false
		}
	}
	return true
}

// hashMatches reports whether c is the dag-cbor sha2-256 CIDv1 of data.
func hashMatches(c cid.Cid, data []byte) bool {
	sum := sha256.Sum256(data)
	return digestMatches(c, &sum)
}

// digestMatches reports whether c is a dag-cbor sha2-256 CIDv1 with digest
// sum.
func digestMatches(c cid.Cid, sum *[32]byte) bool {
	k := c.KeyString()
	return len(k) == 36 && k[0] == 0x01 && k[1] == codecDag && k[2] == sha256Mh && k[3] == digestLen &&
		k[4:] == string(sum[:])
}

// reader is a bounds-checked cursor over a node's bytes.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.bad = true
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// head reads a CBOR head, which must be minimal.
func (r *reader) head() (major byte, arg uint64) {
	c := r.byte()
	major, info := c>>5, c&31
	switch {
	case info < 24:
		return major, uint64(info)
	case info <= 27:
		n := 1 << (info - 24)
		for range n {
			arg = arg<<8 | uint64(r.byte())
		}
		// DRISL requires the shortest head.
		if (info == 24 && arg < 24) || (info > 24 && arg < 1<<(4<<(info-24))) {
			r.bad = true
		}
		return major, arg
	}
	r.bad = true
	return major, 0
}

// lit reads the bytes of s, a constant.
func (r *reader) lit(s string) {
	if len(r.b)-r.off < len(s) || string(r.b[r.off:r.off+len(s)]) != s {
		r.bad = true
		return
	}
	r.off += len(s)
}

func (r *reader) expect(s ...byte) {
	for _, c := range s {
		if r.byte() != c {
			r.bad = true
		}
	}
}

func (r *reader) bytes() []byte {
	m, n := r.head()
	if m != majBytes || n > uint64(len(r.b)-r.off) || r.bad {
		r.bad = true
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

// link reads null (if nullable) or a tag-42 link. It returns the offset of
// the link's 36-byte binary CID in r.b, or -1 for null. A link whose CID is
// not an atproto CID sets linkBad.
func (r *reader) link(nullable, child bool) (off int, linkBad bool) {
	if nullable && r.off < len(r.b) && r.b[r.off] == cborNull {
		r.off++
		return -1, false
	}
	// The common case: a dag-cbor link (tag 42, a 37-byte string: 0x00,
	// then CIDv1, dag-cbor, sha2-256, 32 bytes of digest), 41 bytes in all.
	if rest := r.b[r.off:]; len(rest) >= 41 && string(rest[:9]) == "\xd8\x2a\x58\x25\x00\x01\x71\x12\x20" {
		r.off += 41
		return r.off - 36, false
	}
	r.expect(linkTag0, linkTag1)
	b := r.bytes()
	if r.bad {
		return -1, false
	}
	if len(b) != 37 || b[0] != 0 || b[1] != 0x01 || b[3] != sha256Mh || b[4] != digestLen ||
		!(b[2] == codecDag || (!child && b[2] == codecRaw)) {
		return -1, true
	}
	return r.off - 36, false
}

// linkHead8 is the first eight bytes of a dag-cbor link, read little-endian:
// tag 42, a 37-byte string, 0x00, then CIDv1, dag-cbor, sha2-256; the
// ninth byte is the digest length (digestLen).
const linkHead8 = 0xd8 | 0x2a<<8 | 0x58<<16 | 0x25<<24 | 0x00<<32 | 0x01<<40 | codecDag<<48 | sha256Mh<<56

// isDagLink reports whether b starts with a dag-cbor sha2-256 link (41
// bytes: linkHead8, digestLen, 32 bytes of digest).
func isDagLink(b []byte) bool {
	return len(b) >= 41 && binary.LittleEndian.Uint64(b) == linkHead8 && b[8] == digestLen
}

// fastEntryInfo is what fastEntry reads of one entry: the offsets in the node's
// bytes of its key suffix, its links' binary CIDs (t is -1 for a null
// subtree) and the entry's end, the suffix length and the prefix length.
type fastEntryInfo struct {
	suf, sufLen, p, t, v, next int
}

// fastEntry reads the entry at data[off:] if it has the common shape: a
// canonical map {k, p, t, v} whose key suffix length and prefix length take
// minimal one- or two-byte heads (below 256), a null or dag-cbor subtree
// link and a dag-cbor value link. Anything else, well-formed or not, is left
// to the general reader (ok false), which names what is wrong. What it
// accepts, the general reader accepts with the same result.
func fastEntry(data []byte, off int) (fastEntryInfo, bool) {
	b := data[off:]
	// The shortest such entry: map head, "k", suffix head, "p", p, "t",
	// null, "v", link: 53 bytes plus the suffix.
	if len(b) < 53 || b[0] != cborMap4 || b[1] != textLen1 || b[2] != 'k' {
		return fastEntryInfo{}, false
	}
	var n, at int // suffix length; offset in b of the suffix
	switch h := b[3]; {
	case h >= majBytes<<5 && h < majBytes<<5+24:
		n, at = int(h-majBytes<<5), 4
	case h == majBytes<<5+24 && b[4] >= 24:
		n, at = int(b[4]), 5
	default:
		return fastEntryInfo{}, false
	}
	if len(b)-at < n {
		return fastEntryInfo{}, false
	}
	fe := fastEntryInfo{suf: off + at, sufLen: n, t: -1}
	at += n
	// "p" and its head, "t" and null or a link, "v" and a link.
	q := b[at:]
	if len(q) < 49 || q[0] != textLen1 || q[1] != 'p' {
		return fastEntryInfo{}, false
	}
	switch h := q[2]; {
	case h < 24:
		fe.p, at = int(h), at+3
	case h == 24 && q[3] >= 24:
		fe.p, at = int(q[3]), at+4
	default:
		return fastEntryInfo{}, false
	}
	q = b[at:]
	if len(q) < 46 || q[0] != textLen1 || q[1] != 't' {
		return fastEntryInfo{}, false
	}
	if q[2] == cborNull {
		at += 3
	} else if isDagLink(q[2:]) {
		fe.t = off + at + 2 + 5
		at += 2 + 41
	} else {
		return fastEntryInfo{}, false
	}
	q = b[at:]
	if len(q) < 43 || q[0] != textLen1 || q[1] != 'v' || !isDagLink(q[2:]) {
		return fastEntryInfo{}, false
	}
	fe.v = off + at + 2 + 5
	fe.next = off + at + 43
	return fe, true
}

// nodeWith is a node and its entries (A is an array of entries) in one
// allocation.
type nodeWith[A any] struct {
	n node
	e A
}

func allocNode[A any](count int) *node {
	p := new(nodeWith[A])
	p.n.entries = unsafe.Slice((*entry)(unsafe.Pointer(&p.e)), count)
	return &p.n
}

// newLoadedNode returns a node with count zero entries, allocated together
// for the common sizes: a decoded node then costs two allocations (this
// and its string). The entries' capacity is count, so an append copies
// them; a loaded node is never modified anyway.
func newLoadedNode(count int) *node {
	switch {
	case count == 0:
		return &node{}
	case count == 1:
		return allocNode[[1]entry](count)
	case count == 2:
		return allocNode[[2]entry](count)
	case count == 3:
		return allocNode[[3]entry](count)
	case count == 4:
		return allocNode[[4]entry](count)
	case count == 5:
		return allocNode[[5]entry](count)
	case count == 6:
		return allocNode[[6]entry](count)
	case count == 7:
		return allocNode[[7]entry](count)
	case count == 8:
		return allocNode[[8]entry](count)
	case count == 9:
		return allocNode[[9]entry](count)
	case count == 10:
		return allocNode[[10]entry](count)
	case count == 11:
		return allocNode[[11]entry](count)
	case count == 12:
		return allocNode[[12]entry](count)
	case count == 13:
		return allocNode[[13]entry](count)
	case count == 14:
		return allocNode[[14]entry](count)
	case count == 15:
		return allocNode[[15]entry](count)
	case count == 16:
		return allocNode[[16]entry](count)
	}
	return &node{entries: make([]entry, count)}
}

// vent is where one entry of a node lies in the node's block: the offset
// and length of its key suffix, its prefix length, and the offsets of its
// links' binary CIDs (t is -1 for a null subtree). It holds no pointer.
type vent struct {
	suf, v, t int32
	p, sufLen uint16
}

// keyLen returns the length of the entry's key.
func (e *vent) keyLen() int { return int(e.p) + int(e.sufLen) }

// bstr returns b as a string without a copy; b must not change while the
// string is in use.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// cidAt returns the CID whose 36-byte binary form is at data[off:], which
// parseEntries checked, without a copy: data must not change while the CID
// is in use.
func cidAt(data []byte, off int32) cid.Cid {
	return cidFromBinary(bstr(data[off : off+36]))
}

// nodeHead reads the start of a node, up to its entry count, and returns
// the count and the offset of the first entry.
func nodeHead(data []byte, c cid.Cid) (int, int, error) {
	if len(data) > MaxNodeBytes {
		return 0, 0, nodeErr(c, RuleEncoding, -1, "node is %d bytes, more than %d", len(data), MaxNodeBytes)
	}
	r := reader{b: data}
	r.expect(cborMap2, textLen1, 'e')
	m, count := r.head()
	if r.bad || m != majArray {
		return 0, 0, nodeErr(c, RuleEncoding, -1, "not a map {e, l} starting with an entry array")
	}
	// Each entry takes at least 53 bytes, which bounds the allocation.
	if count > uint64(len(data)/53) {
		return 0, 0, nodeErr(c, RuleEncoding, -1, "entry count %d exceeds what %d bytes can hold", count, len(data))
	}
	return int(count), r.off, nil
}

// parseEntries reads the len(ents) entries of a node from data[off:] into
// ents, and the left link after them: the node's shape, canonical encoding,
// links and prefix lengths (not above the previous key's length). It
// returns the offset of the left link's binary CID (-1 for null), the total
// length of the keys and the number of links.
func parseEntries(data []byte, c cid.Cid, off int, ents []vent) (left, keysLen, links int, err error) {
	r := reader{b: data, off: off}
	prevLen := 0
	for i := range ents {
		if fe, ok := fastEntry(data, r.off); ok {
			if fe.p > prevLen {
				return 0, 0, 0, nodeErr(c, RulePrefixLength, i, "prefix length %d exceeds the previous key's %d bytes", fe.p, prevLen)
			}
			r.off = fe.next
			prevLen = fe.p + fe.sufLen
			keysLen += prevLen
			links++
			if fe.t >= 0 {
				links++
			}
			ents[i] = vent{suf: int32(fe.suf), sufLen: uint16(fe.sufLen), p: uint16(fe.p), t: int32(fe.t), v: int32(fe.v)}
			continue
		}
		r.lit("\xa4ak")
		suffix := r.bytes()
		suf := r.off - len(suffix)
		r.lit("ap")
		mj, p := r.head()
		if mj != majUint {
			r.bad = true
		}
		r.lit("at")
		t, tBad := r.link(true, true)
		r.lit("av")
		v, vBad := r.link(false, false)
		if r.bad {
			return 0, 0, 0, nodeErr(c, RuleEncoding, i, "entry is not a canonical map {k, p, t, v} of the right types")
		}
		if tBad || vBad {
			return 0, 0, 0, nodeErr(c, RuleLink, i, "link is not a CIDv1 sha2-256 (dag-cbor, or raw for values)")
		}
		if p > uint64(prevLen) {
			return 0, 0, 0, nodeErr(c, RulePrefixLength, i, "prefix length %d exceeds the previous key's %d bytes", p, prevLen)
		}
		if int(p)+len(suffix) > MaxKeyBytes {
			return 0, 0, 0, nodeErr(c, RuleKey, i, "key longer than %d bytes", MaxKeyBytes)
		}
		prevLen = int(p) + len(suffix)
		keysLen += prevLen
		links++
		if t >= 0 {
			links++
		}
		ents[i] = vent{suf: int32(suf), sufLen: uint16(len(suffix)), p: uint16(p), t: int32(t), v: int32(v)}
	}
	r.expect(textLen1, 'l')
	left, lBad := r.link(true, true)
	if r.bad || r.off != len(data) {
		return 0, 0, 0, nodeErr(c, RuleEncoding, -1, "not a canonical map {e, l} ending after l")
	}
	if lBad {
		return 0, 0, 0, nodeErr(c, RuleLink, -1, "left link is not a CIDv1 dag-cbor sha2-256")
	}
	if left >= 0 {
		links++
	}
	return left, keysLen, links, nil
}

// appendKeys appends the keys of ents, rebuilt from their prefixes and the
// suffixes in data, to buf, one after the other.
func appendKeys(buf, data []byte, ents []vent) []byte {
	prevStart := len(buf)
	for i := range ents {
		e := &ents[i]
		start := len(buf)
		buf = append(buf, buf[prevStart:prevStart+int(e.p)]...)
		buf = append(buf, data[e.suf:e.suf+int32(e.sufLen)]...)
		prevStart = start
	}
	return buf
}

// checkKeys appends the keys of ents (parsed from data by parseEntries) to
// buf as appendKeys does, and checks them: each a valid key, strictly
// increasing, with a minimal prefix length, and (unless firstLayerOnly)
// all on one layer. It returns buf and the node's layer (-1 without
// entries): the first key's, or knownLayer if firstLayerOnly is set and
// knownLayer is not negative (see decodeNode). It then checks that a
// layer-0 node has no subtree links (left is the left link's offset).
//
// Unless firstLayerOnly, the keys' layers are computed after the other
// checks, in one batch (sha256x8.SumMany, eight keys at a time), and the
// error is the one a key-by-key check gives: a key on the wrong layer is
// reported before any failure of a later key.
func checkKeys(buf, data []byte, c cid.Cid, ents []vent, left int, firstLayerOnly bool, knownLayer int) ([]byte, int, error) {
	height := -1
	prev := ""
	prevSlash := MaxKeyBytes // where prev's '/' is; none yet
	prevStart := len(buf)
	// Unless firstLayerOnly: where each key starts in buf, for the batch.
	var startBuf [32]int32
	starts := startBuf[:0]
	if !firstLayerOnly && len(ents) > len(startBuf) {
		starts = make([]int32, 0, len(ents))
	}
	for i := range ents {
		e := &ents[i]
		start := len(buf)
		buf = append(buf, buf[prevStart:prevStart+int(e.p)]...)
		buf = append(buf, data[e.suf:e.suf+int32(e.sufLen)]...)
		prevStart = start
		k := bstr(buf[start:])
		// k's first p bytes are the previous key's, already valid: if its
		// slash is among them, only the suffix's bytes need checking.
		if p := int(e.p); !(prevSlash < p && prevSlash < len(k)-1 && keySuffixOK(k[p:])) {
			if err := ValidateKey(k); err != nil {
				return buf, -1, layerErrBefore(c, buf, starts, ents, nodeErr(c, RuleKey, i, "%v", err))
			}
			prevSlash = strings.IndexByte(k, '/')
		}
		// k's first p bytes are prev's (it was built so), so k sorts after
		// prev with p their whole shared prefix if k's next byte is
		// greater than prev's, or if prev ends there and k does not. Any
		// other case takes the full checks, which name the rule broken.
		if p := int(e.p); !(p < len(prev) && p < len(k) && k[p] > prev[p]) && !(p == len(prev) && len(k) > p) {
			if i > 0 && k <= prev {
				return buf, -1, layerErrBefore(c, buf, starts, ents, nodeErr(c, RuleKeyOrder, i, "key %q does not sort after %q", k, prev))
			}
			if cp := CommonPrefixLen(prev, k); p != cp {
				return buf, -1, layerErrBefore(c, buf, starts, ents, nodeErr(c, RulePrefixMinimal, i, "prefix length %d, shared prefix is %d", p, cp))
			}
		}
		switch {
		case !firstLayerOnly:
			starts = append(starts, int32(start))
		case i > 0:
		case knownLayer >= 0:
			height = knownLayer
		default:
			height = KeyHeight(k)
		}
		prev = k
	}
	if !firstLayerOnly && len(ents) > 0 {
		var err error
		if height, err = checkLayers(c, buf, starts, ents); err != nil {
			return buf, -1, err
		}
	}
	if height == 0 {
		if left >= 0 {
			return buf, -1, nodeErr(c, RuleLeafChild, -1, "layer-0 node has a left child")
		}
		for i := range ents {
			if ents[i].t >= 0 {
				return buf, -1, nodeErr(c, RuleLeafChild, i, "layer-0 node has a right child")
			}
		}
	}
	return buf, height, nil
}

// checkLayers computes the layers of the keys buf[starts[i]:] (of length
// ents[i].keyLen()) in one batch and returns the first key's, or the
// RuleKeyHeight error of the first key on another layer (node c).
func checkLayers(c cid.Cid, buf []byte, starts []int32, ents []vent) (int, error) {
	var layerBuf [32]uint8
	layers := layerBuf[:0]
	if len(starts) > len(layerBuf) {
		layers = make([]uint8, len(starts))
	}
	layers = layers[:len(starts)]
	sha256x8.SumMany(len(starts), func(i, _ int) []byte {
		return buf[starts[i] : int(starts[i])+ents[i].keyLen()]
	}, func(i int, sum [32]byte) {
		layers[i] = uint8(sumLayer(sum)) // at most 128
	})
	height := int(layers[0])
	for i, l := range layers {
		if int(l) != height {
			k := bstr(buf[starts[i] : int(starts[i])+ents[i].keyLen()])
			return -1, nodeErr(c, RuleKeyHeight, i, "key %q is on layer %d, the node's first key on %d", k, l, height)
		}
	}
	return height, nil
}

// layerErrBefore returns the error of checkLayers on the keys checked
// before err's key (starts holds them, see checkKeys), if it finds one, and
// err otherwise: a key-by-key check meets a key on the wrong layer first.
func layerErrBefore(c cid.Cid, buf []byte, starts []int32, ents []vent, err error) error {
	if len(starts) == 0 {
		return err
	}
	if _, lerr := checkLayers(c, buf, starts, ents[:len(starts)]); lerr != nil {
		return lerr
	}
	return err
}

// decodeNode parses and checks one node on its own: shape, canonical
// encoding, links, keys, prefix compression, order and a single layer. The
// checks that depend on the node's place (bounds, expected layer, emptiness)
// are made by the loader. c is used only in errors. If firstLayerOnly is set
// (a trusted source, see Options.InsecureTrustSource), only the first key's layer
// is computed and taken as the node's, or, if knownLayer is not negative,
// none: the node's layer is knownLayer (its place in the tree).
//
// The node's keys and links are substrings of one string (the rebuilt keys,
// then the links' binary CIDs), so a node costs three allocations whatever
// its size (two for up to 16 entries, see newLoadedNode). decodeView reads
// the same nodes with the same checks, and keeps only offsets.
func decodeNode(data []byte, c cid.Cid, firstLayerOnly bool, knownLayer int) (*node, error) {
	count, off, err := nodeHead(data, c)
	if err != nil {
		return nil, err
	}
	var entBuf [32]vent
	ents := entBuf[:0]
	if count <= len(entBuf) {
		ents = entBuf[:count]
	} else {
		ents = make([]vent, count)
	}
	left, keysLen, links, err := parseEntries(data, c, off, ents)
	if err != nil {
		return nil, err
	}
	// The node's keys, rebuilt from their prefixes and suffixes, and the
	// binary CIDs of its links share one allocation, which becomes a string
	// without a copy (nothing writes to it after this function).
	var all string
	height := -1
	if total := keysLen + 36*links; total > 0 {
		buf := make([]byte, 0, total)
		if buf, height, err = checkKeys(buf, data, c, ents, left, firstLayerOnly, knownLayer); err != nil {
			return nil, err
		}
		// Links in the order link takes them below: v, t of each entry, l.
		for i := range ents {
			buf = append(buf, data[ents[i].v:ents[i].v+36]...)
			if t := ents[i].t; t >= 0 {
				buf = append(buf, data[t:t+36]...)
			}
		}
		if left >= 0 {
			buf = append(buf, data[left:left+36]...)
		}
		all = bstr(buf)
	}
	n := newLoadedNode(count)
	entries := n.entries
	linkAt := keysLen
	link := func(off int32) cid.Cid {
		if off < 0 {
			return cid.Undef
		}
		linkAt += 36
		return cidFromBinary(all[linkAt-36 : linkAt])
	}
	start := 0
	for i := range entries {
		e := &ents[i]
		end := start + e.keyLen()
		v := link(e.v)
		entries[i] = entry{key: all[start:end], val: v, right: ref{cid: link(e.t)}}
		start = end
	}
	n.left, n.cid, n.height = ref{cid: link(int32(left))}, c, height
	// The shape is fixed and every head was checked to be minimal, so n
	// re-encodes to exactly data (FuzzDecodeNode checks this).
	return n, nil
}

// view is a node as a diff walk reads it (decodeView): the block itself and
// where each entry lies in it, with no key or link copied out. Its links
// are read in place (cidAt), and its keys are rebuilt into the walker's
// buffer (appendKeys). A view costs no allocation: its entries are in the
// walker's buffer too, and only the block and its layer are cached (see
// nodeCache). The block is the BlockSource's, never modified.
type view struct {
	data   []byte
	ents   []vent
	left   int32 // offset in data of the left link's binary CID, or -1
	height int32 // layer of the entries; -1 for a node without entries
}

// decodeView reads and checks block data (CID c) as decodeNode(data, c,
// true, h) does, with the same errors, into a view that keeps data. It
// appends the node's entries to ents and its keys to keys (see appendKeys),
// and returns both; the view's entries are the ones appended.
func decodeView(data []byte, c cid.Cid, h int, keys []byte, ents []vent) (view, []byte, []vent, error) {
	count, off, err := nodeHead(data, c)
	if err != nil {
		return view{}, keys, ents, err
	}
	base := len(ents)
	ents = slices.Grow(ents, count)[:base+count]
	v := view{data: data, ents: ents[base:]}
	left, _, _, err := parseEntries(data, c, off, v.ents)
	if err != nil {
		return view{}, keys, ents[:base], err
	}
	keys, height, err := checkKeys(keys, data, c, v.ents, left, true, h)
	if err != nil {
		return view{}, keys, ents[:base], err
	}
	v.left, v.height = int32(left), int32(height)
	return v, keys, ents, nil
}

// keys appends v's keys to buf.
func (v *view) keys(buf []byte) []byte { return appendKeys(buf, v.data, v.ents) }

// gap returns the CID of the subtree in gap i (see node.gap), or false if
// the gap is empty.
func (v *view) gap(i int) (cid.Cid, bool) {
	off := v.left
	if i > 0 {
		off = v.ents[i-1].t
	}
	if off < 0 {
		return cid.Undef, false
	}
	return cidAt(v.data, off), true
}
