package mst

import "slices"

// sortKVs sorts kvs by key. Repo paths share long prefixes (collection,
// the time part of TIDs), and a comparison sort over strings spends its time
// following string pointers to compare those prefixes again and again. This
// sort compares 8-byte chunks copied next to an index instead: it sorts by
// bytes 0-7, then each run that ties by bytes 8-15, and so on, so that each
// key's bytes are read about len(key)/8 times in all. Keys are printable
// ASCII (no zero bytes), so padding short chunks with zeros keeps the order.
func sortKVs(kvs []kv) {
	if len(kvs) < 2 {
		return
	}
	items := make([]chunkItem, len(kvs))
	for i := range kvs {
		items[i] = chunkItem{chunk: chunkAt(kvs[i].key, 0), idx: int32(i)}
	}
	sortChunks(items, make([]chunkItem, len(items)), kvs, 0)
	// Apply the permutation in place, following its cycles.
	for i := range items {
		if items[i].idx < 0 {
			continue
		}
		tmp := kvs[i]
		j := i
		for {
			src := int(items[j].idx)
			items[j].idx = -1
			if src == i {
				kvs[j] = tmp
				break
			}
			kvs[j] = kvs[src]
			j = src
		}
	}
}

type chunkItem struct {
	chunk uint64
	idx   int32
}

// chunkAt returns bytes d to d+8 of s, big-endian, zero-padded.
func chunkAt(s string, d int) uint64 {
	if d+8 <= len(s) {
		b := s[d : d+8]
		return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	}
	var c uint64
	for i := d; i < d+8; i++ {
		c <<= 8
		if i < len(s) {
			c |= uint64(s[i])
		}
	}
	return c
}

// sortChunks sorts items whose keys share their first d bytes and whose
// chunk holds bytes d to d+8. tmp is scratch space as long as items.
func sortChunks(items, tmp []chunkItem, kvs []kv, d int) {
	if len(items) >= 512 {
		radixSortChunks(items, tmp)
	} else {
		slices.SortFunc(items, func(a, b chunkItem) int {
			switch {
			case a.chunk < b.chunk:
				return -1
			case a.chunk > b.chunk:
				return 1
			}
			return 0
		})
	}
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].chunk == items[i].chunk {
			j++
		}
		if j-i > 1 {
			// Distinct keys that tie on 8 bytes are longer than d+8 (a key
			// ending inside the chunk would make the two equal).
			run := items[i:j]
			for k := range run {
				run[k].chunk = chunkAt(kvs[run[k].idx].key, d+8)
			}
			sortChunks(run, tmp[i:j], kvs, d+8)
		}
		i = j
	}
}

// radixSortChunks sorts items by chunk with an LSD radix sort, one byte per
// pass, skipping the bytes on which all items agree (the shared prefixes).
// One read pass counts all eight bytes' histograms at once. tmp is scratch
// space as long as items.
func radixSortChunks(items, tmp []chunkItem) {
	var counts [8][256]int
	for i := range items {
		c := items[i].chunk
		for b := range counts {
			counts[b][byte(c>>(8*b))]++
		}
	}
	first := items[0].chunk
	src := items
	for b := range counts {
		count := &counts[b]
		if count[byte(first>>(8*b))] == len(src) {
			continue // every item has the same byte here
		}
		dst := tmp
		if &src[0] == &tmp[0] {
			dst = items
		}
		pos := 0
		for v := range count {
			c := count[v]
			count[v] = pos
			pos += c
		}
		shift := uint(8 * b)
		for i := range src {
			v := byte(src[i].chunk >> shift)
			dst[count[v]] = src[i]
			count[v]++
		}
		src = dst
	}
	if &src[0] != &items[0] {
		copy(items, src)
	}
}

// maxMergeRuns is the most ascending runs sortRuns merges.
const maxMergeRuns = 64

// sortRuns sorts kvs by key if they form at most maxMergeRuns ascending
// runs, and reports whether it did. A batch of writes is often a few such
// runs (a repo commit's records, then their receipts): they are merged,
// about one comparison per key and merge pass, instead of sorted from
// scratch. Equal keys stay in their order (unlike sortKVs, it accepts them).
func sortRuns(kvs []kv) bool {
	runs := 1
	for i := 1; i < len(kvs); i++ {
		if kvs[i].key < kvs[i-1].key {
			if runs++; runs > maxMergeRuns {
				return false
			}
		}
	}
	if runs == 1 {
		return true
	}
	// Bottom-up: merge neighbouring runs, back and forth between kvs and
	// a second slice, until one is left.
	src, dst := kvs, make([]kv, len(kvs))
	for runs > 1 {
		runs = 0
		for lo := 0; lo < len(src); {
			mid := runEnd(src, lo)
			hi := mid
			if mid < len(src) {
				hi = runEnd(src, mid)
			}
			mergeKVs(dst[lo:hi], src[lo:mid], src[mid:hi])
			runs++
			lo = hi
		}
		src, dst = dst, src
	}
	if &src[0] != &kvs[0] {
		copy(kvs, src)
	}
	return true
}

// runEnd returns the end of the ascending run of kvs that starts at lo.
func runEnd(kvs []kv, lo int) int {
	i := lo + 1
	for i < len(kvs) && kvs[i-1].key <= kvs[i].key {
		i++
	}
	return i
}

// mergeKVs merges the sorted a and b into dst (len(a)+len(b) long), a's
// keys first among equal ones.
func mergeKVs(dst, a, b []kv) {
	k := 0
	for len(a) > 0 && len(b) > 0 {
		if b[0].key < a[0].key {
			dst[k], b = b[0], b[1:]
		} else {
			dst[k], a = a[0], a[1:]
		}
		k++
	}
	k += copy(dst[k:], a)
	copy(dst[k:], b)
}
