package community

import (
	"context"
	"testing"
)

func TestCreateJoinWrite(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	bob := w.join(c, "bob", nil, Role{})
	rk := newTID()
	res, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("hello"))))
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := c.GetRecord(ctx, NSIDMessage, rk)
	if err != nil || len(data) == 0 {
		t.Fatal(err)
	}
	if res.Commit != c.Repo().Head().Commit {
		t.Fatal("result commit is not the head")
	}
	// bob may not update alice's record
	head := c.Repo().Head().Commit
	_, err = c.Invoke(ctx, w.rq(bob.sess.Update(NSIDMessage, rk, message("mine"))))
	if err == nil {
		t.Fatal("bob updated alice's record")
	}
	t.Log(err)
	if c.Repo().Head().Commit != head {
		t.Fatal("head moved")
	}
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Update(NSIDMessage, rk, message("edited")))); err != nil {
		t.Fatal(err)
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host1")
	c, founder := w.newCommunity(h, "member")
	alice := w.join(c, "alice", founder, testRoles[0])
	rk := newTID()
	if _, err := c.Invoke(ctx, w.rq(alice.sess.Create(NSIDMessage, rk, message("hello")))); err != nil {
		t.Fatal(err)
	}
	b, err := c.Bundle(ctx, NSIDMessage, rk)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := w.plc.Resolve(ctx, c.DID())
	if err != nil {
		t.Fatal(err)
	}
	a, err := VerifyBundle(ctx, b, VerifyOptions{Document: doc})
	if err != nil {
		t.Fatal(err)
	}
	if a.Author != alice.did {
		t.Fatalf("author %s", a.Author)
	}
}
