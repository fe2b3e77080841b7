package community

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// TestVerifyBindsDID: one host key signs the commits of every community on
// the host, so a key alone must not make one community's evidence pass as
// another's. VerifyBundle and VerifyAudienceCAR refuse Key without DID,
// evidence of another DID than the one given, and Key and Document
// together (which once verified with Key and ignored Document).
func TestVerifyBindsDID(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	a, _ := w.newCommunity(h, "member")
	b, founder, _, backup := staffBackup(t, w, h)
	if a.SigningKey().DIDKey() != b.SigningKey().DIDKey() {
		t.Fatal("two communities of one host with different keys: the test needs one host key")
	}
	key := a.SigningKey()
	docA := m(w.plc.Resolve(ctx, a.DID())).must(t)
	docB := m(w.plc.Resolve(ctx, b.DID())).must(t)
	alice := w.join(b, "alice", founder, testRoles[0])
	rk := newTID()
	if _, err := b.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("hello")))); err != nil {
		t.Fatal(err)
	}
	bundle := m(b.Bundle(ctx, NSIDMessage, rk)).must(t)

	for name, opts := range map[string]VerifyOptions{
		"key and DID":           {Key: key, DID: b.DID()},
		"document":              {Document: docB},
		"document and its DID":  {Document: docB, DID: b.DID()},
		"document and AuditLog": {Document: docB, AuditLog: m(w.plc.AuditLog(ctx, b.DID())).must(t)},
	} {
		if got, err := VerifyBundle(ctx, bundle, opts); err != nil || got.DID != b.DID() || got.Author != alice.did {
			t.Errorf("bundle, %s: %v", name, err)
		}
		if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), b.DID(), "staff", opts); err != nil {
			t.Errorf("audience CAR, %s: %v", name, err)
		}
	}
	for name, opts := range map[string]VerifyOptions{
		"key alone":                        {Key: key},
		"key and another DID":              {Key: key, DID: a.DID()},
		"key and another DID's document":   {Key: key, Document: docA},
		"key, DID and its document":        {Key: key, DID: b.DID(), Document: docB},
		"another DID's document":           {Document: docA},
		"document and another DID":         {Document: docB, DID: a.DID()},
		"another DID's document, this DID": {Document: docA, DID: b.DID()},
		"nothing":                          {},
	} {
		if _, err := VerifyBundle(ctx, bundle, opts); !errors.Is(err, ErrBadBundle) {
			t.Errorf("bundle, %s: %v, want ErrBadBundle", name, err)
		}
		if name == "key alone" {
			continue // VerifyAudienceCAR takes the DID as an argument
		}
		if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), b.DID(), "staff", opts); !errors.Is(err, ErrBadBundle) {
			t.Errorf("audience CAR, %s: %v, want ErrBadBundle", name, err)
		}
	}
	// VerifyAudienceCAR's did argument is what Key vouches for: B's CAR is
	// not A's, and an empty did binds nothing.
	for _, did := range []string{a.DID(), ""} {
		if _, err := VerifyAudienceCAR(ctx, bytes.NewReader(backup), did, "staff", VerifyOptions{Key: key}); !errors.Is(err, ErrBadBundle) {
			t.Errorf("audience CAR as %q: %v, want ErrBadBundle", did, err)
		}
	}
}
