package repo

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// The block key index: which pack holds the block of a key (blockKey's
// 4-byte key). Its entries are 12 bytes, the key (big-endian, as a signed
// 32-bit value) and the pack's id (big-endian), sorted by key then id, in
// blobs of up to a page: key_pages holds most of them, each row the
// entries from its lo up to the next row's lo; recent_key_pages holds the
// entries of the latest commits, in up to 64 rows by the key's top 6
// bits. A commit reads the recent rows its keys go to, merges its keys in
// and writes those rows back (at most about 30 pages in all); once they
// would hold sqliteRecentKeys entries it merges them into key_pages instead, reading and rewriting each row it
// adds to, in key order. Either way a commit does a few statements per
// page of keys, where version 3's row per key cost SQLite a B-tree insert
// per key (and its keys a second insert, at the merge). A lookup reads one
// row of each, in one statement; the rows read are kept as hints
// (keyHints), so that most reads of a block take one statement, its pack's.

// keyEntBytes is the size of an entry of the key index.
const keyEntBytes = 12

// sqliteKeyPageEnts is how many entries a key_pages row holds at most
// (3,840 bytes, a 4 KiB page); a merge that fills a row beyond it splits
// the row (only between two keys: the entries of one key stay in one row).
const sqliteKeyPageEnts = 320

// keyEnt is an entry of the key index: a block of pack id has key h.
type keyEnt struct {
	h  int32
	id int64
}

func cmpKeyEnt(a, b keyEnt) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func appendKeyEnt(b []byte, e keyEnt) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(e.h))
	return binary.BigEndian.AppendUint64(b, uint64(e.id))
}

func keyH(page []byte, i int) int32 {
	return int32(binary.BigEndian.Uint32(page[i*keyEntBytes:]))
}

func keyAt(page []byte, i int) keyEnt {
	return keyEnt{h: keyH(page, i), id: int64(binary.BigEndian.Uint64(page[i*keyEntBytes+4:]))}
}

// sqliteRecentShift: a key's recent_key_pages row is its top 32 -
// sqliteRecentShift bits: 64 rows of up to about 150 entries (1.8 KB). (256
// rows cost a commit 13% more instructions, in the rows SQLite reads and
// writes; 32 rows 2% less, and lookups that miss the hints copy twice as
// many bytes: bench/README.md.)
const sqliteRecentShift = 26

// recentBucket is the recent_key_pages row of key h.
func recentBucket(h int32) int64 { return int64(h >> sqliteRecentShift) }

// pageIDs appends to ids the pack ids under key h in page (a blob of
// sorted entries).
func pageIDs(page []byte, h int32, ids []int64) []int64 {
	n := len(page) / keyEntBytes
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if keyH(page, m) < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < n && keyH(page, i) == h; i++ {
		ids = append(ids, keyAt(page, i).id)
	}
	return ids
}

// keyLookup is the key index lookup of one key: its recent_key_pages row
// (parameter 1 is its bucket) and its key_pages row (parameter 2 is the
// key), if they exist, as keyLookups gives them.
const keyLookup = `SELECT 0, bucket, keys FROM recent_key_pages WHERE bucket = ?1 UNION ALL SELECT * FROM (SELECT 1, lo, keys FROM key_pages WHERE lo <= ?2 ORDER BY lo DESC LIMIT 1)`

// keyLookups are the key index lookups of 2 to sqliteBatch keys, by number
// of keys n: parameters 1 to n are the keys, n+1 to 2n their buckets. Each
// row that holds one of the keys' entries comes once: 0, a recent bucket
// and its entries, or 1, a key_pages row's lo and its entries.
var keyLookups = func() map[int]string {
	m := map[int]string{}
	for n := 2; n <= sqliteBatch; n *= 2 {
		var vals, in strings.Builder
		for i := 1; i <= n; i++ {
			if i > 1 {
				vals.WriteByte(',')
				in.WriteByte(',')
			}
			fmt.Fprintf(&vals, "(?%d)", i)
			fmt.Fprintf(&in, "?%d", n+i)
		}
		m[n] = `SELECT 0, bucket, keys FROM recent_key_pages WHERE bucket IN (` + in.String() + `) UNION ALL ` +
			`SELECT 1, lo, keys FROM key_pages WHERE lo IN (SELECT (SELECT lo FROM key_pages WHERE lo <= v.column1 ORDER BY lo DESC LIMIT 1) FROM (VALUES ` + vals.String() + `) v)`
	}
	return m
}()

// fileKeys adds the keys of the write's blocks to the key index: to the
// recent rows (rewriting only the rows they go to), or, with them once
// they would reach sqliteRecentKeys entries, to key_pages. A write of at
// least sqliteRecentKeys blocks (a CAR import) files its keys in key_pages
// directly and leaves the recent rows as they are.
func (a *sqliteApply) fileKeys(ctx context.Context) error {
	s, tx, sc := a.s, a.tx, a.sc
	keys := sc.keys
	sc.order = sortKeys(keys, sc.order, &sc.sorted)
	if len(keys) >= sqliteRecentKeys {
		return s.mergeKeyPages(ctx, tx, keys, sc)
	}
	var held int
	if err := s.txQueryRow(ctx, tx, `SELECT COALESCE(sum(length(keys)), 0) FROM recent_key_pages`).Scan(&held); err != nil {
		return err
	}
	if held/keyEntBytes+len(keys) < sqliteRecentKeys {
		return s.fileRecentKeys(ctx, tx, keys, sc)
	}
	// The merge: every recent entry and the new keys into key_pages.
	rows, err := s.txQuery(ctx, tx, `SELECT keys FROM recent_key_pages ORDER BY bucket`)
	if err != nil {
		return err
	}
	recent := sc.recent[:0]
	var page sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&page); err != nil {
			rows.Close()
			return err
		}
		for i := range len(page) / keyEntBytes {
			recent = append(recent, keyAt(page, i))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	sc.recent = recent
	sc.all = mergeKeyEnts(sc.all[:0], recent, keys)
	if _, err := s.txExec(ctx, tx, `DELETE FROM recent_key_pages`); err != nil {
		return err
	}
	return s.mergeKeyPages(ctx, tx, sc.all, sc)
}

// fileRecentKeys files sorted keys, which do not bring recent_key_pages to
// sqliteRecentKeys entries, by rewriting only the rows they go to (a
// commit of a chat message touches a few of the 64; rewriting all of them,
// up to about 100 KB, at every commit made such commits about 1.5 times
// slower): one statement reads those rows, and one per power of two in
// their number (chunkLen: 5 rows take 4 and 1) writes them back.
func (s *SQLiteStore) fileRecentKeys(ctx context.Context, tx *sql.Tx, keys []keyEnt, sc *sqliteScratch) error {
	// The buckets, ascending (the keys are sorted), padded to a
	// power of two by repeating the last (a handful of statement shapes).
	args := sc.args[:0]
	for i, e := range keys {
		if b := recentBucket(e.h); i == 0 || b != recentBucket(keys[i-1].h) {
			args = append(args, b)
		}
	}
	nb := len(args)
	shape := inShape(nb)
	for len(args) < shape {
		args = append(args, args[nb-1])
	}
	rows, err := s.txQuery(ctx, tx, recentReads[shape], args...)
	if err != nil {
		return err
	}
	// The rows, ascending.
	if err := sc.readKeyRows(rows); err != nil {
		return err
	}
	los, offs, pages := sc.los, sc.offs, sc.pages
	// Each bucket's entries merged with its new keys, into one blob cut
	// per row (never grown while parts of it are bound).
	if n := (len(keys) + len(pages)/keyEntBytes) * keyEntBytes; cap(sc.buf) < n {
		sc.buf = make([]byte, 0, n)
	}
	buf := sc.buf[:0]
	args = args[:0]
	r := 0 // the first row not below the bucket
	for i := 0; i < len(keys); {
		b := recentBucket(keys[i].h)
		j := i + 1
		for j < len(keys) && recentBucket(keys[j].h) == b {
			j++
		}
		for r < len(los) && los[r] < b {
			r++
		}
		var page []byte
		if r < len(los) && los[r] == b {
			page = pages[offs[r]:offs[r+1]]
		}
		start := len(buf)
		buf = appendMergedPage(buf, page, keys[i:j])
		args = append(args, b, buf[start:len(buf):len(buf)])
		i = j
	}
	sc.args = args[:0]
	for pending := nb; pending > 0; {
		c := chunkLen(pending)
		if err := s.execStmt(ctx, tx, recentReplaces[c], args[:2*c]); err != nil {
			return err
		}
		args = args[2*c:]
		pending -= c
	}
	return nil
}

// recentReads read the recent_key_pages rows of 1 to 64 buckets (the
// number of rows), in bucket order, by number of parameters, a power of two.
var recentReads = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= 1<<(32-sqliteRecentShift); n *= 2 {
		m[n] = `SELECT bucket, keys FROM recent_key_pages WHERE bucket IN (` + strings.TrimSuffix(strings.Repeat("?,", n), ",") + `) ORDER BY bucket`
	}
	return m
}()

// recentReplaces are the multi-row recent_key_pages writes of fileRecentKeys,
// by number of rows.
var recentReplaces = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= sqliteBatch; n *= 2 {
		m[n] = `INSERT OR REPLACE INTO recent_key_pages (bucket, keys) VALUES ` + valuesList(n, 2)
	}
	return m
}()

// sortKeys sorts a write's keys, whose ids never decrease in their order
// (packs are numbered as they are written), by key then id: as one uint64
// each, the key (its order kept) above its place, which slices.Sort sorts
// without calling a comparison function. order and sorted are buffers.
func sortKeys(keys []keyEnt, order []uint64, sorted *[]keyEnt) []uint64 {
	if uint64(len(keys)) > math.MaxUint32 {
		slices.SortFunc(keys, cmpKeyEnt) // places beyond 32 bits
		return order
	}
	order = order[:0]
	for i, k := range keys {
		order = append(order, uint64(uint32(k.h)^1<<31)<<32|uint64(i))
	}
	slices.Sort(order)
	out := slices.Grow((*sorted)[:0], len(keys))[:len(keys)]
	for j, o := range order {
		out[j] = keys[uint32(o)]
	}
	copy(keys, out)
	*sorted = out[:0]
	return order
}

// mergeKeyEnts appends the merge of the sorted a and b to out.
func mergeKeyEnts(out, a, b []keyEnt) []keyEnt {
	for len(a) > 0 && len(b) > 0 {
		if cmpKeyEnt(a[0], b[0]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// readKeyRows reads key index rows (their lo or bucket, their entries)
// into sc, copied: row r's is los[r] and its entries pages[offs[r]:offs[r+1]].
// It closes rows.
func (sc *sqliteScratch) readKeyRows(rows *sql.Rows) error {
	defer rows.Close()
	los, offs, pages := sc.los[:0], sc.offs[:0], sc.pages[:0]
	for rows.Next() {
		var k int64
		var page sql.RawBytes
		if err := rows.Scan(&k, &page); err != nil {
			return err
		}
		los, offs, pages = append(los, k), append(offs, len(pages)), append(pages, page...)
	}
	sc.los, sc.offs, sc.pages = los, append(offs, len(pages)), pages
	return rows.Err()
}

// appendMergedPage appends to buf the merge of a row's entries, page
// (encoded and sorted), and the sorted add, encoded: the row's entries are
// copied as they are, not decoded.
func appendMergedPage(buf, page []byte, add []keyEnt) []byte {
	n, p := len(page)/keyEntBytes, 0
	for p < n || len(add) > 0 {
		if p < n && (len(add) == 0 || cmpKeyEnt(keyAt(page, p), add[0]) <= 0) {
			buf = append(buf, page[p*keyEntBytes:(p+1)*keyEntBytes]...)
			p++
		} else {
			buf, add = appendKeyEnt(buf, add[0]), add[1:]
		}
	}
	return buf
}

// sqliteMergeRows bounds how many key_pages rows a merge reads with one
// statement.
const sqliteMergeRows = 32

// mergeKeyPages merges sorted keys into key_pages: it reads the rows the
// keys go to, a run of rows at a time (one statement: from the row of the
// first key left on, one row more than it merges, for where the last
// merged one ends), and writes each back with its keys (one statement, or
// more if it grew beyond sqliteKeyPageEnts and is split). A run is as long
// as the last one's rows all got keys, twice as long (up to
// sqliteMergeRows), else half as long: few keys in a large table are
// spread over rows far apart, and a row read without keys is wasted.
func (s *SQLiteStore) mergeKeyPages(ctx context.Context, tx *sql.Tx, keys []keyEnt, sc *sqliteScratch) error {
	run := 4
	for i := 0; i < len(keys); {
		rows, err := s.txQuery(ctx, tx, `SELECT lo, keys FROM key_pages WHERE lo >= (SELECT coalesce(max(lo), ?2) FROM key_pages WHERE lo <= ?1) ORDER BY lo LIMIT ?3`, keys[i].h, math.MinInt32, run+1)
		if err != nil {
			return err
		}
		if err := sc.readKeyRows(rows); err != nil {
			return err
		}
		los, offs, pages := sc.los, sc.offs, sc.pages
		exists := true
		if len(los) == 0 {
			// No row yet: the first covers every key.
			los, offs, exists = append(los, math.MinInt32), append(offs, 0), false
		}
		last := len(los) - 1
		if len(los) == run+1 {
			last-- // the extra row: where the one before ends
		}
		merged := 0
		for r := 0; r <= last && i < len(keys); r++ {
			j := len(keys)
			if r+1 < len(los) {
				next := los[r+1]
				j = i + sort.Search(len(keys)-i, func(k int) bool { return int64(keys[i+k].h) >= next })
			}
			if j == i {
				continue
			}
			buf := appendMergedPage(sc.buf[:0], pages[offs[r]:offs[r+1]], keys[i:j])
			sc.buf = buf
			if err := s.writeKeyPage(ctx, tx, los[r], exists, buf); err != nil {
				return err
			}
			merged++
			i = j
		}
		if merged == last+1 {
			run = min(2*run, sqliteMergeRows)
		} else {
			run = max(run/2, 1)
		}
	}
	return nil
}

// splitKeyPage calls fn with the rows that the entries ents of the
// key_pages row at lo make: rows of at most sqliteKeyPageEnts entries
// where they can be (the entries of one key stay in one row), as even as
// can be; the first at lo, each other at its first key.
func splitKeyPage(lo int64, ents []byte, fn func(lo int64, part []byte)) {
	n := len(ents) / keyEntBytes
	parts := (n + sqliteKeyPageEnts - 1) / sqliteKeyPageEnts
	target := (n + parts - 1) / max(parts, 1) // >= 1 when n > 0
	for start := 0; start < n; {
		end := min(start+target, n)
		for end < n && keyH(ents, end) == keyH(ents, end-1) {
			end++
		}
		at := lo
		if start > 0 {
			at = int64(keyH(ents, start))
		}
		fn(at, ents[start*keyEntBytes:end*keyEntBytes])
		start = end
	}
}

// writeKeyPage writes the entries ents of the key_pages row at lo (new if
// !exists), split as splitKeyPage splits them.
func (s *SQLiteStore) writeKeyPage(ctx context.Context, tx *sql.Tx, lo int64, exists bool, ents []byte) error {
	var err error
	splitKeyPage(lo, ents, func(at int64, part []byte) {
		switch {
		case err != nil:
		case at == lo && exists:
			_, err = s.txExec(ctx, tx, `UPDATE key_pages SET keys = ? WHERE lo = ?`, part, lo)
		default:
			_, err = s.txExec(ctx, tx, `INSERT OR FAIL INTO key_pages (lo, keys) VALUES (?, ?)`, at, part)
		}
	})
	return err
}

// lookupPacks appends to ids[i] the ids of the packs the key index files
// under hs[i], for up to sqliteBatch keys, in one statement, and keeps the
// rows it reads as hints.
func (s *SQLiteStore) lookupPacks(ctx context.Context, hs []int32, ids [][]int64) error {
	var st *sql.Stmt
	var err error
	var argBuf [2 * sqliteBatch]any
	args := argBuf[:2*len(hs)]
	if len(hs) == 1 {
		st, err = s.stmt(ctx, keyLookup)
		args[0], args[1] = recentBucket(hs[0]), int64(hs[0])
	} else {
		// Padded to a statement shape with the last key again.
		shape := inShape(len(hs))
		args = argBuf[:2*shape]
		st, err = s.stmt(ctx, keyLookups[shape])
		for i := range shape {
			h := hs[min(i, len(hs)-1)]
			args[i], args[shape+i] = int64(h), recentBucket(h)
		}
	}
	if err != nil {
		return err
	}
	// The keys' places in hs, in key order: the keys of a row are a run
	// of it.
	var orderBuf [sqliteBatch]int
	order := orderBuf[:len(hs)]
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(hs[a], hs[b]) })
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, k int64
		var page sql.RawBytes
		if err := rows.Scan(&kind, &k, &page); err != nil {
			return err
		}
		n := len(page) / keyEntBytes
		if n == 0 {
			continue
		}
		s.hints.put(kind == 0, k, page)
		// A recent row holds the keys of its bucket; a key_pages row
		// those from its lo to the next row's, so none above its last
		// entry's.
		from, last := int32(k), keyH(page, n-1) // a key_pages lo is at least MinInt32
		if kind == 0 {
			from, last = int32(k<<sqliteRecentShift), int32(k<<sqliteRecentShift|(1<<sqliteRecentShift-1))
		}
		o := sort.Search(len(order), func(i int) bool { return hs[order[i]] >= from })
		for ; o < len(order) && hs[order[o]] <= last; o++ {
			i := order[o]
			ids[i] = pageIDs(page, hs[i], ids[i])
		}
	}
	return rows.Err()
}

// sqliteKeyHintBytes bounds the key index rows a SQLiteStore keeps as
// hints (keyHints).
const sqliteKeyHintBytes = 1 << 20

// keyHints keeps copies of key index rows read, so that a block whose key
// one of them holds is read with one statement (the pack's) instead of
// two. A copy may be stale (another connection or process merged or wrote
// keys since): it may then lack a key, which sends the read to the key
// index, but every entry it holds stays true, as a pack, once committed,
// never changes and is never deleted; and the read checks the CID in the
// pack anyway. When the copies reach sqliteKeyHintBytes they are all
// dropped.
type keyHints struct {
	mu     sync.Mutex
	bytes  int
	recent map[int64][]byte // bucket -> entries
	los    []int64          // the key_pages rows held, sorted by lo
	pages  map[int64][]byte // lo -> entries
}

// put keeps a copy of a row of recent_key_pages (recent) or key_pages.
func (kh *keyHints) put(recent bool, k int64, page []byte) {
	kh.mu.Lock()
	defer kh.mu.Unlock()
	if kh.bytes+len(page) > sqliteKeyHintBytes || kh.pages == nil {
		kh.bytes, kh.los = 0, kh.los[:0]
		kh.recent, kh.pages = map[int64][]byte{}, map[int64][]byte{}
	}
	m := kh.pages
	if recent {
		m = kh.recent
	}
	if old, ok := m[k]; ok {
		kh.bytes -= len(old)
	} else if !recent {
		i, _ := slices.BinarySearch(kh.los, k)
		kh.los = slices.Insert(kh.los, i, k)
	}
	m[k] = bytes.Clone(page)
	kh.bytes += len(page)
}

// get appends to ids the ids the rows held give for key h.
func (kh *keyHints) get(h int32, ids []int64) []int64 {
	kh.mu.Lock()
	defer kh.mu.Unlock()
	if page, ok := kh.recent[recentBucket(h)]; ok {
		ids = pageIDs(page, h, ids)
	}
	// The row with the greatest lo <= h.
	if i, ok := slices.BinarySearch(kh.los, int64(h)); ok {
		ids = pageIDs(kh.pages[kh.los[i]], h, ids)
	} else if i > 0 {
		ids = pageIDs(kh.pages[kh.los[i-1]], h, ids)
	}
	return ids
}
