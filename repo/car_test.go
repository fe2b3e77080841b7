package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func TestCARRoundTrip(t *testing.T) {
	blocks := []Block{blk("a"), blk("b"), blk("c")}
	data, err := carBytes(blocks[0].CID, blocks)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := NewCARReader(bytes.NewReader(data), CAROptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Roots) != 1 || cr.Roots[0] != blocks[0].CID {
		t.Fatalf("roots %v", cr.Roots)
	}
	for i := 0; ; i++ {
		c, b, err := cr.Next()
		if err == io.EOF {
			if i != 3 {
				t.Fatalf("%d blocks", i)
			}
			break
		}
		if err != nil || c != blocks[i].CID || !bytes.Equal(b, blocks[i].Data) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

// readAllCAR reads data in both modes and checks they agree.
func readAllCAR(data []byte, opts CAROptions) error {
	run := func(cr *CARReader, err error) error {
		if err != nil {
			return err
		}
		for {
			_, _, err := cr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	e1 := run(NewCARReader(bytes.NewReader(data), opts))
	e2 := run(NewCARReaderBytes(data, opts))
	if (e1 == nil) != (e2 == nil) || (e1 != nil && e1.Error() != e2.Error()) {
		return fmt.Errorf("modes disagree: stream %v, bytes %v", e1, e2)
	}
	return e1
}

func TestCARReaderRejects(t *testing.T) {
	blocks := []Block{blk("a"), blk("b")}
	data, _ := carBytes(blocks[0].CID, blocks)
	// Every proper prefix that does not end on a section boundary is truncated.
	hdrEnd := len(data) - 2*(1+cidLen+len(blocks[0].Data))
	for n := 0; n < len(data); n++ {
		err := readAllCAR(data[:n], CAROptions{})
		boundary := n == hdrEnd || n == hdrEnd+1+cidLen+len(blocks[0].Data)
		if boundary {
			if err != nil {
				t.Fatalf("prefix %d at a boundary: %v", n, err)
			}
			continue
		}
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
	tampered := bytes.Clone(data)
	tampered[len(tampered)-1] ^= 1
	if err := readAllCAR(tampered, CAROptions{}); !errors.Is(err, ErrBlockHash) {
		t.Fatalf("tampered: %v", err)
	}
	if err := readAllCAR(data, CAROptions{MaxBlockBytes: 4}); !errors.Is(err, ErrMalformedCAR) {
		t.Fatalf("limit: %v", err)
	}
	// A huge declared section length allocates nothing and fails.
	huge := append(bytes.Clone(data[:hdrEnd]), 0xff, 0xff, 0xff, 0xff, 0x0f)
	if err := readAllCAR(huge, CAROptions{}); !errors.Is(err, ErrMalformedCAR) {
		t.Fatalf("huge: %v", err)
	}
	if err := readAllCAR([]byte{0x01, 0xa0}, CAROptions{}); !errors.Is(err, ErrMalformedCAR) {
		t.Fatalf("bad header: %v", err)
	}
}
