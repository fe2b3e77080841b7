package repo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
)

// Default CAR limits. A reader never allocates more than the largest
// allowed section at once, whatever the input claims.
const (
	DefaultMaxBlockBytes  = 2 << 20  // one block (atproto records are at most 1 MiB)
	DefaultMaxHeaderBytes = 64 << 10 // the CAR header
	DefaultMaxCARBytes    = 1 << 30  // a whole CAR stream
	DefaultMaxBlocks      = 1 << 22  // blocks in one CAR stream
)

// CAROptions bounds what a CARReader accepts. The zero value means the
// defaults above.
type CAROptions struct {
	MaxBlockBytes  int
	MaxHeaderBytes int
	MaxCARBytes    int64
	MaxBlocks      int
}

func (o CAROptions) withDefaults() CAROptions {
	if o.MaxBlockBytes <= 0 {
		o.MaxBlockBytes = DefaultMaxBlockBytes
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxCARBytes <= 0 {
		o.MaxCARBytes = DefaultMaxCARBytes
	}
	if o.MaxBlocks <= 0 {
		o.MaxBlocks = DefaultMaxBlocks
	}
	return o
}

type carHeader struct {
	Roots   []cid.Cid `cbor:"roots"`
	Version int64     `cbor:"version"`
}

// cidLen is the byte length of an atproto CID: CIDv1, one-byte codec
// (dag-cbor or raw), sha2-256, 32-byte digest.
const cidLen = 36

// CARReader reads a CAR v1 stream (https://ipld.io/specs/transport/car/carv1/)
// block by block, checking every block's bytes against its CID. It accepts
// only what atproto writes: CIDv1 with codec dag-cbor or raw and a sha2-256
// digest.
type CARReader struct {
	r      *bufio.Reader // stream mode
	data   []byte        // byte mode (NewCARReaderBytes): no copies
	noHash bool          // internal: the caller hashes the blocks (those it uses, or all at once: readEventCAR)
	opts   CAROptions
	off    int64
	blocks int
	// Roots are the roots named in the header.
	Roots []cid.Cid
}

// NewCARReader reads and checks the CAR header from r.
func NewCARReader(r io.Reader, opts CAROptions) (*CARReader, error) {
	cr := &CARReader{r: bufio.NewReaderSize(r, 32<<10), opts: opts.withDefaults()}
	return cr, cr.header()
}

// NewCARReaderBytes is NewCARReader for a CAR held in memory: the blocks
// Next returns are sub-slices of data, not copies.
func NewCARReaderBytes(data []byte, opts CAROptions) (*CARReader, error) {
	cr := &CARReader{data: data, opts: opts.withDefaults()}
	return cr, cr.header()
}

func (cr *CARReader) header() error {
	n, err := cr.uvarint()
	if err == io.EOF {
		return &VerifyError{Rule: ErrTruncated, Offset: 0, Detail: "empty input"}
	}
	if err != nil {
		return err
	}
	if n == 0 || n > uint64(cr.opts.MaxHeaderBytes) {
		return &VerifyError{Rule: ErrMalformedCAR, Offset: 0, Detail: "header length out of range"}
	}
	hb, err := cr.take(int(n))
	if err != nil {
		return err
	}
	if root, ok := oneRootHeader(hb); ok {
		cr.Roots = []cid.Cid{root}
		return nil
	}
	var h carHeader
	if err := (drisl.DecOptions{MaxInputBytes: cr.opts.MaxHeaderBytes}).Unmarshal(hb, &h); err != nil {
		return &VerifyError{Rule: ErrMalformedCAR, Offset: 0, Detail: "header", Err: err}
	}
	if h.Version != 1 {
		return &VerifyError{Rule: ErrMalformedCAR, Offset: 0, Detail: "not CAR version 1"}
	}
	cr.Roots = h.Roots
	return nil
}

// oneRootHead and oneRootTail frame the DRISL encoding of a CAR v1 header
// with one root: {"roots": [tag 42, bytes(37) 0x00 CID], "version": 1},
// keys in DRISL order. The CID (36 bytes) lies between them.
const (
	oneRootHead = "\xa2\x65roots\x81\xd8\x2a\x58\x25\x00"
	oneRootTail = "\x67version\x01"
)

// oneRootHeader reads hb if it is the header every atproto CAR has (see
// oneRootHead) with an atproto CID (CIDv1, dag-cbor or raw, sha2-256), and
// returns its root. It accepts nothing the DRISL decoder would refuse, and
// leaves any other header to it: the decoder is most of the cost of reading
// a small CAR such as an event's blocks.
func oneRootHeader(hb []byte) (cid.Cid, bool) {
	const n = len(oneRootHead) + cidLen + len(oneRootTail)
	if len(hb) != n || string(hb[:len(oneRootHead)]) != oneRootHead || string(hb[n-len(oneRootTail):]) != oneRootTail {
		return cid.Undef, false
	}
	cb := hb[len(oneRootHead) : len(oneRootHead)+cidLen]
	if cb[0] != 0x01 || (cb[1] != drisl.CodecDagCBOR && cb[1] != drisl.CodecRaw) || cb[2] != drisl.HashSHA256 || cb[3] != 32 {
		return cid.Undef, false
	}
	c, err := cid.Cast(cb)
	if err != nil {
		return cid.Undef, false
	}
	return c, true
}

// take returns the next n bytes: a new slice in stream mode, a sub-slice of
// the input in byte mode. n is always bounded by a limit before the call.
func (cr *CARReader) take(n int) ([]byte, error) {
	if cr.off+int64(n) > cr.opts.MaxCARBytes {
		return nil, &VerifyError{Rule: ErrMalformedCAR, Offset: cr.off, Detail: "CAR larger than the limit"}
	}
	if cr.r == nil {
		if len(cr.data)-int(cr.off) < n {
			cr.off = int64(len(cr.data))
			return nil, &VerifyError{Rule: ErrTruncated, Offset: cr.off}
		}
		b := cr.data[cr.off : cr.off+int64(n) : cr.off+int64(n)]
		cr.off += int64(n)
		return b, nil
	}
	b := make([]byte, n)
	m, err := io.ReadFull(cr.r, b)
	cr.off += int64(m)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &VerifyError{Rule: ErrTruncated, Offset: cr.off}
		}
		return nil, &VerifyError{Rule: ErrTruncated, Offset: cr.off, Err: err}
	}
	return b, nil
}

func (cr *CARReader) readByte() (byte, error) {
	if cr.r == nil {
		if int(cr.off) >= len(cr.data) {
			return 0, io.EOF
		}
		return cr.data[cr.off], nil
	}
	return cr.r.ReadByte()
}

// maxVarintLen is the longest varint the CARv1 spec allows: it frames
// sections with multiformats unsigned varints, which are at most 9 bytes
// (63 bits) and minimally encoded
// (https://github.com/multiformats/unsigned-varint); go-varint, which
// go-car v2 uses, enforces the same two rules.
const maxVarintLen = 9

// uvarint reads a varint; at a clean end of stream it returns io.EOF. It
// rejects varints that are not minimally encoded or longer than
// maxVarintLen bytes (so it never overflows 63 bits).
func (cr *CARReader) uvarint() (uint64, error) {
	var x uint64
	var s uint
	for i := 0; i < maxVarintLen; i++ {
		b, err := cr.readByte()
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return 0, &VerifyError{Rule: ErrTruncated, Offset: cr.off}
			}
			return 0, &VerifyError{Rule: ErrTruncated, Offset: cr.off, Err: err}
		}
		cr.off++
		if b < 0x80 {
			if i > 0 && b == 0 {
				return 0, &VerifyError{Rule: ErrMalformedCAR, Offset: cr.off - 1, Detail: "non-minimal varint"}
			}
			return x | uint64(b)<<s, nil
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	return 0, &VerifyError{Rule: ErrMalformedCAR, Offset: cr.off - 1, Detail: "varint longer than 9 bytes"}
}

// Next returns the next block and its CID, or io.EOF at the clean end of
// the stream. The block's bytes have been checked against the CID. The
// returned slice is owned by the caller (a sub-slice of the input for a
// reader from NewCARReaderBytes).
func (cr *CARReader) Next() (cid.Cid, []byte, error) {
	start := cr.off
	n, err := cr.uvarint()
	if err != nil {
		if err == io.EOF {
			return cid.Undef, nil, io.EOF
		}
		return cid.Undef, nil, err
	}
	if cr.blocks >= cr.opts.MaxBlocks {
		return cid.Undef, nil, &VerifyError{Rule: ErrMalformedCAR, Offset: start, Detail: "too many blocks"}
	}
	if n < cidLen || n > uint64(cr.opts.MaxBlockBytes)+cidLen {
		return cid.Undef, nil, &VerifyError{Rule: ErrMalformedCAR, Offset: start, Detail: "section length out of range"}
	}
	cb, err := cr.take(cidLen)
	if err != nil {
		return cid.Undef, nil, err
	}
	if cb[0] != 0x01 || (cb[1] != drisl.CodecDagCBOR && cb[1] != drisl.CodecRaw) || cb[2] != drisl.HashSHA256 || cb[3] != 32 {
		return cid.Undef, nil, &VerifyError{Rule: ErrMalformedCAR, Offset: start, Detail: "CID is not CIDv1 dag-cbor/raw sha2-256"}
	}
	c, err := cid.Cast(cb)
	if err != nil {
		return cid.Undef, nil, &VerifyError{Rule: ErrMalformedCAR, Offset: start, Err: err}
	}
	data, err := cr.take(int(n - cidLen))
	if err != nil {
		return cid.Undef, nil, err
	}
	if !cr.noHash {
		sum := sha256.Sum256(data)
		if !bytes.Equal(sum[:], cb[4:]) {
			return c, nil, &VerifyError{Rule: ErrBlockHash, CID: c, Offset: start}
		}
	}
	cr.blocks++
	return c, data, nil
}

// CARWriter writes a CAR v1 stream. It does no buffering of its own: wrap
// the destination in a bufio.Writer when it is a file or socket.
type CARWriter struct {
	w   io.Writer
	buf []byte
}

// NewCARWriter writes the header naming roots to w.
func NewCARWriter(w io.Writer, roots ...cid.Cid) (*CARWriter, error) {
	if roots == nil {
		roots = []cid.Cid{}
	}
	hb, err := drisl.Marshal(&carHeader{Roots: roots, Version: 1})
	if err != nil {
		return nil, err
	}
	cw := &CARWriter{w: w}
	cw.buf = binary.AppendUvarint(cw.buf[:0], uint64(len(hb)))
	cw.buf = append(cw.buf, hb...)
	if _, err := w.Write(cw.buf); err != nil {
		return nil, err
	}
	return cw, nil
}

// WriteBlock writes one block section.
func (cw *CARWriter) WriteBlock(c cid.Cid, data []byte) error {
	cb := c.Bytes()
	cw.buf = binary.AppendUvarint(cw.buf[:0], uint64(len(cb)+len(data)))
	cw.buf = append(cw.buf, cb...)
	if _, err := cw.w.Write(cw.buf); err != nil {
		return err
	}
	_, err := cw.w.Write(data)
	return err
}
