package drisl

import "unsafe"

// Storing a string, an int64 or a slice in an interface normally allocates
// a copy of it on the heap, one allocation per decoded value: most of a
// decode's allocations. The decoder instead writes these values into chunks
// (one allocation for many values) and builds each interface to point at
// its element. This is sound because:
//
//   - the type word comes from converting a value of the same static type to
//     any (typeWord), so it describes exactly the element pointed at;
//   - string, int64, []any and Map are not pointer-shaped, so an interface
//     holding one keeps a pointer to the value, never the value itself: the
//     layout written here is the one the compiler writes;
//   - the element lives in a heap-allocated []T, or in an array field [N]T of
//     a heap-allocated struct (firstBoxes), so the garbage collector scans it
//     with T's pointer layout, and the interior pointer keeps the chunk (or
//     the struct) alive as long as any interface refers to it;
//   - an interface's value must never change: each element is written once,
//     before its interface is made, and the chunk is reachable otherwise
//     only from the decodeState, which moves past the element at once and
//     dies with the decode.
//
// The first chunk of every kind comes from one allocation (firstBoxes, of
// at most 1 KiB, and only for inputs of at least minFirstBoxes bytes), so a
// small document such as a record pays one allocation for its boxes instead
// of one per kind. After that the chunks of each kind double, up to boxChunk
// elements, and are never larger than the input that remains (every value
// takes at least one byte of it), so memory stays proportional to the
// input. The price: a value kept from the result keeps its chunk alive.
// TestBoxedValues checks the boxed values against ordinary ones.

const boxChunk = 256

// eface is the runtime layout of an empty interface.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// typeWord returns the type word of an interface holding a T.
func typeWord[T any]() unsafe.Pointer {
	var zero T
	x := any(zero) // no allocation: zero values of these types are static
	return (*eface)(unsafe.Pointer(&x)).typ
}

// boxes holds the current chunks of one decode.
type boxes struct {
	strs                  []string
	ints                  []int64
	slices                [][]any
	maps                  []Map
	elems                 []any   // backing arrays of decoded arrays
	entries               []Entry // backing arrays of decoded Maps
	nStrs, nInts, nSlices int     // sizes of the last chunks
	nMaps, nElems         int
	nEntries              int
	started               bool // firstBoxes was considered
	// more is input that later decodes sharing these boxes will read
	// (RecordDecoder), counted with the input left to size chunks.
	more int
}

// left is the input the boxes' next chunks may serve: what remains of
// this decode's, and more.
func (d *decodeState) left() int { return len(d.data) - d.off + d.boxes.more }

// firstBoxes holds the first chunk of every kind of the default model;
// firstBoxesOrdered adds those of the ordered one. Their sizes fit a typical
// record.
type firstBoxes struct {
	strs   [8]string
	elems  [4]any
	slices [2][]any
	ints   [2]int64
}

type firstBoxesOrdered struct {
	firstBoxes
	entries [16]Entry
	maps    [4]Map
}

// minFirstBoxes is the smallest input that gets firstBoxes: below it, the
// chunks of each kind are sized by the input alone.
const minFirstBoxes = 64

// first installs the first chunks of a decode, when it needs its first box
// of any kind.
func (d *decodeState) first() {
	b := &d.boxes
	b.started = true
	if d.left() < minFirstBoxes {
		return
	}
	var f *firstBoxes
	if d.ordered {
		o := new(firstBoxesOrdered)
		b.entries, b.nEntries = o.entries[:], len(o.entries)
		b.maps, b.nMaps = o.maps[:], len(o.maps)
		f = &o.firstBoxes
	} else {
		f = new(firstBoxes)
	}
	b.strs, b.nStrs = f.strs[:], len(f.strs)
	b.slices, b.nSlices = f.slices[:], len(f.slices)
	b.ints, b.nInts = f.ints[:], len(f.ints)
	if b.nElems == 0 {
		// array, inlined, does not call first: its chunk may have come
		// before.
		b.elems, b.nElems = f.elems[:], len(f.elems)
	}
}

// chunkLen returns the size of the next chunk of one kind, whose last chunk
// had *last elements, when the input left can hold at most most values of
// it. Callers estimate most with the bytes a value of the kind usually
// takes (at least one always does), so that the chunks of small documents
// stay small.
func chunkLen(last *int, most int) int {
	*last = min(max(8, 2**last), boxChunk)
	return max(1, min(*last, most))
}

// box returns an interface holding the value at p, which must point into a
// chunk as described above.
func box(typ unsafe.Pointer, p unsafe.Pointer) any {
	var x any
	e := (*eface)(unsafe.Pointer(&x))
	e.typ, e.data = typ, p
	return x
}

var (
	stringType = typeWord[string]()
	int64Type  = typeWord[int64]()
	sliceType  = typeWord[[]any]()
	mapType    = typeWord[Map]()
)

func (d *decodeState) boxString(s string) any {
	if len(d.boxes.strs) == 0 && !d.boxes.started {
		d.first()
	}
	if len(d.boxes.strs) == 0 {
		d.boxes.strs = make([]string, chunkLen(&d.boxes.nStrs, d.left()/8))
	}
	p := &d.boxes.strs[0]
	*p = s
	d.boxes.strs = d.boxes.strs[1:]
	return box(stringType, unsafe.Pointer(p))
}

func (d *decodeState) boxInt(n int64) any {
	if uint64(n) < 256 {
		return n // the runtime boxes these without allocating
	}
	if len(d.boxes.ints) == 0 && !d.boxes.started {
		d.first()
	}
	if len(d.boxes.ints) == 0 {
		d.boxes.ints = make([]int64, chunkLen(&d.boxes.nInts, d.left()/4))
	}
	p := &d.boxes.ints[0]
	*p = n
	d.boxes.ints = d.boxes.ints[1:]
	return box(int64Type, unsafe.Pointer(p))
}

func (d *decodeState) boxSlice(s []any) any {
	if len(d.boxes.slices) == 0 && !d.boxes.started {
		d.first()
	}
	if len(d.boxes.slices) == 0 {
		d.boxes.slices = make([][]any, chunkLen(&d.boxes.nSlices, d.left()/4))
	}
	p := &d.boxes.slices[0]
	*p = s
	d.boxes.slices = d.boxes.slices[1:]
	return box(sliceType, unsafe.Pointer(p))
}

func (d *decodeState) boxMap(m Map) any {
	if len(d.boxes.maps) == 0 && !d.boxes.started {
		d.first()
	}
	if len(d.boxes.maps) == 0 {
		d.boxes.maps = make([]Map, chunkLen(&d.boxes.nMaps, d.left()/8))
	}
	p := &d.boxes.maps[0]
	*p = m
	d.boxes.maps = d.boxes.maps[1:]
	return box(mapType, unsafe.Pointer(p))
}

// array returns a slice of length and capacity n for the elements of a
// decoded array. Arrays share chunks of elements as values share boxes: a
// chunk holds the elements of many small arrays (those of up to boxChunk/4
// elements), each a full slice expression, so an append to one allocates
// anew instead of writing into its neighbour. The caller has checked n
// against the input that remains.
func (d *decodeState) array(n int) []any {
	if n == 0 {
		return []any{} // not nil: an empty array is not null
	}
	if n > len(d.boxes.elems) {
		if n > boxChunk/4 {
			return make([]any, n)
		}
		d.boxes.elems = make([]any, max(n, chunkLen(&d.boxes.nElems, d.left())))
	}
	s := d.boxes.elems[:n:n]
	d.boxes.elems = d.boxes.elems[n:]
	return s
}

// entries returns a Map of length and capacity n for the entries of a
// decoded map, carved from shared chunks as array carves arrays: a chunk
// holds the entries of many small maps (those of up to boxChunk/4 entries),
// so decoding a document allocates a few chunks instead of one slice per
// map, and keeping one small Map keeps its chunk alive. The caller has
// checked n against the input that remains (two bytes per entry).
func (d *decodeState) entries(n int) Map {
	if n == 0 {
		return Map{} // not nil, as arrays
	}
	if n > len(d.boxes.entries) && !d.boxes.started {
		d.first()
	}
	if n > len(d.boxes.entries) {
		if n > boxChunk/4 || len(d.boxes.entries) >= boxChunk/16 {
			// A large map, or one that does not fit the rest of a chunk
			// that can still hold several small maps: its own allocation,
			// instead of wasting that rest.
			return make(Map, n)
		}
		d.boxes.entries = make([]Entry, max(n, chunkLen(&d.boxes.nEntries, d.left()/8)))
	}
	s := d.boxes.entries[:n:n]
	d.boxes.entries = d.boxes.entries[n:]
	return s
}
