package repo

import (
	"errors"
	"fmt"
	"strings"
)

// Block packs: SQLiteStore keeps a commit's consecutive small blocks
// together, several to a row of block_packs, so that a commit inserts a
// row per two thousand bytes of blocks rather than one per block. A row's
// n is its number of blocks. A row of one block (a large block, or a row
// of schema version 3, which thus needs no rewriting) holds the block's CID
// in its cid column and its data in data. A row of several holds in cid,
// for each block, the length of its CID as 3 decimal digits, the length of
// its data as 4 decimal digits, and its CID; and in data the blocks' data,
// in the same order. (Decimal, so that the view blocks can cut a pack into
// its blocks in SQL: CAST(substr(cid, ...) AS INTEGER).)

// sqlitePackBytes is how many bytes of CIDs, lengths and data a pack holds
// at most, so that it fits one 4 KiB page with its cell overhead; a larger
// block is a pack of its own.
const sqlitePackBytes = 2000

// sqlitePackRows is how many packs one multi-row INSERT carries (up to
// 64 KiB of blobs to bind).
const sqlitePackRows = 16

// errBadPack is what reading a block_packs row whose CIDs and lengths do
// not describe its data ends with.
var errBadPack = errors.New("repo: sqlite holds a malformed block pack")

// packCIDMax and packDataMax are the largest CID and data that a row of
// several blocks can hold (their lengths' digits).
const (
	packCIDMax  = 999
	packDataMax = 9999
)

// packInserts are the multi-row pack INSERTs, by number of rows (powers of
// two up to sqlitePackRows). h, version 3's key of a one-block row, is 0.
var packInserts = func() map[int]string {
	m := map[int]string{}
	for n := 1; n <= sqlitePackRows; n *= 2 {
		m[n] = `INSERT OR FAIL INTO block_packs (id, repo, h, n, cid, data) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, 0, ?, ?, ?),", n), ",")
	}
	return m
}()

// packBlockBytes is what block b adds to a pack of several blocks: its
// lengths, its CID and its data.
func packBlockBytes(b Block) int {
	return 7 + len(b.CID.KeyString()) + len(b.Data)
}

// packable reports whether b may share a row with other blocks.
func packable(b Block) bool {
	return len(b.CID.KeyString()) <= packCIDMax && len(b.Data) <= packDataMax
}

// packSizes splits bs into packs: it appends the number of blocks of each
// to sizes. A pack holds consecutive blocks up to sqlitePackBytes bytes; a
// block that does not fit one, or is not packable, is a pack of its own.
func packSizes(bs []Block, sizes []int) []int {
	for i := 0; i < len(bs); {
		j, used := i+1, packBlockBytes(bs[i])
		for packable(bs[i]) && j < len(bs) && packable(bs[j]) {
			add := packBlockBytes(bs[j])
			if used+add > sqlitePackBytes {
				break
			}
			used += add
			j++
		}
		sizes = append(sizes, j-i)
		i = j
	}
	return sizes
}

// appendPack appends the cid column (lengths and CIDs) and the data of
// the pack of several packable blocks bs to buf, and returns buf and the
// two parts.
func appendPack(buf []byte, bs []Block) (out, hdr, data []byte) {
	start := len(buf)
	for _, b := range bs {
		buf = appendDigits(buf, len(b.CID.KeyString()), 3)
		buf = appendDigits(buf, len(b.Data), 4)
		buf = append(buf, b.CID.KeyString()...)
	}
	mid := len(buf)
	for _, b := range bs {
		buf = append(buf, b.Data...)
	}
	return buf, buf[start:mid:mid], buf[mid:len(buf):len(buf)]
}

// appendDigits appends v, which has at most w decimal digits, as w digits.
func appendDigits(b []byte, v, w int) []byte {
	var d [8]byte
	for i := w - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:w]...)
}

// digits parses b, decimal digits.
func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// packReader walks the blocks of a pack.
type packReader struct {
	id        int64 // the row, for errors
	n         int64 // its blocks
	hdr, data []byte
	i         int64 // blocks read
	off, doff int
}

// each calls fn with the CID bytes and data of each block left in the
// pack, in order, until fn or the pack fails.
func (p *packReader) each(fn func(c, d []byte) error) error {
	for {
		c, d, ok, err := p.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(c, d); err != nil {
			return err
		}
	}
}

// next returns the next block's CID bytes and data (both parts of the
// pack's bytes), or ok false after the last.
func (p *packReader) next() (c, d []byte, ok bool, err error) {
	switch {
	case p.n < 1:
		return nil, nil, false, fmt.Errorf("%w: row %d: %d blocks", errBadPack, p.id, p.n)
	case p.i == p.n:
		if p.n > 1 && (p.off != len(p.hdr) || p.doff != len(p.data)) {
			return nil, nil, false, fmt.Errorf("%w: row %d: bytes after its blocks", errBadPack, p.id)
		}
		return nil, nil, false, nil
	case p.n == 1:
		p.i++
		return p.hdr, p.data, true, nil
	}
	h := p.hdr[p.off:]
	if len(h) < 7 {
		return nil, nil, false, fmt.Errorf("%w: row %d: short", errBadPack, p.id)
	}
	cl, ok1 := digits(h[:3])
	dl, ok2 := digits(h[3:7])
	if !ok1 || !ok2 || cl == 0 || cl > len(h)-7 || dl > len(p.data)-p.doff {
		return nil, nil, false, fmt.Errorf("%w: row %d: bad lengths", errBadPack, p.id)
	}
	c = h[7 : 7+cl : 7+cl]
	d = p.data[p.doff : p.doff+dl : p.doff+dl]
	p.off += 7 + cl
	p.doff += dl
	p.i++
	return c, d, true, nil
}
