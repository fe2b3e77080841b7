package community

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/townhall-dev/townhall/ucan"
)

// TestInvocationExecutor: the community executes an invocation addressed to
// it (aud absent, as a Session signs it, or its DID) and refuses one whose
// aud names another service (ErrUnauthorized wrapping
// ucan.ErrInvalidAudience), which that service could otherwise replay here.
func TestInvocationExecutor(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, _ := w.newCommunity(h, "member")
	alice := w.join(c, "alice", nil, Role{})
	readdress := func(aud string) *Request {
		req := w.rq(alice.sess.Create(NSIDMessage, newTID(), message("to "+aud)))
		orig, err := ucan.ParseInvocation(req.Invocation)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := ucan.NewInvocation(alice.key, ucan.InvocationFields{Subject: orig.Subject, Audience: aud,
			Command: orig.Command, Args: orig.Args, Proofs: orig.Proofs, Expiration: w.clock.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return &Request{Invocation: inv.Bytes(), Proofs: req.Proofs, Records: req.Records}
	}
	res, err := c.Invoke(ctx, readdress("did:web:elsewhere.example"))
	if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, ucan.ErrInvalidAudience) {
		t.Errorf("an invocation addressed to did:web:elsewhere.example: %v (result %v)", err, res)
	}
	if _, err := c.Invoke(ctx, readdress(c.DID())); err != nil {
		t.Errorf("an invocation addressed to the community: %v", err)
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, newTID(), message("no aud")))); err != nil {
		t.Errorf("a Session's invocation (no aud): %v", err)
	}
}
