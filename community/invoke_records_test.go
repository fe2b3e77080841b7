package community

import (
	"bytes"
	"context"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// TestInvokeCopiesRecords: the writer commits a request's record bytes
// without hashing them again (repo.Write.InsecureSkipRecordCheck), so
// Invoke checks and commits its own copy: a caller that reuses its
// Records slices after Invoke changes nothing stored, and the exported
// repository verifies (with the request's slices kept, the store held
// the caller's bytes under the CID of other bytes).
func TestInvokeCopiesRecords(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	rk := newTID()
	req := w.rq(alice.sess.Create(NSIDMessage, rk, message("the original text")))
	orig := bytes.Clone(req.Records[0])
	if _, err := c.Invoke(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The caller reuses its buffer.
	copy(req.Records[0], bytes.Repeat([]byte{0x60}, len(req.Records[0])))
	got, data, err := c.GetRecord(ctx, NSIDMessage, rk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, orig) || drisl.SumCID(drisl.CodecDagCBOR, data) != got {
		t.Fatalf("the stored record changed with the caller's buffer: %x (CID %s)", data, got)
	}
	var car bytes.Buffer
	if err := c.Export(ctx, &car); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.VerifyCAR(ctx, &car, repo.VerifyOptions{Key: c.SigningKey(), DID: c.DID(), Now: w.clock.Now}); err != nil {
		t.Fatalf("exported repository: %v", err)
	}
}
