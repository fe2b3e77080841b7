package community

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// batchMessage is a chat message record shaped as examples/import writes
// them: a struct, encoded through its cbor tags.
type batchMessage struct {
	Type      string `cbor:"$type"`
	Channel   string `cbor:"channel"`
	Text      string `cbor:"text"`
	ReplyTo   string `cbor:"replyTo,omitempty"`
	CreatedAt string `cbor:"createdAt"`
}

// batchSession returns a session of a member of role of a community,
// whose grant is one delegation from the community's key, with a fixed
// clock; no host is involved.
func batchSession(tb testing.TB, role Role) *Session {
	tb.Helper()
	key := func(label string) *ucan.KeySigner {
		seed := sha256.Sum256([]byte(label))
		s, err := ucan.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	root, sess := key("batch community"), key("batch session")
	now := time.Unix(1_800_000_000, 0)
	var chain [][]byte
	var cmd string
	for _, spec := range roleDelegations(role, root.DID()) {
		if !ucan.CommandCovers(spec.cmd, CmdBatch) {
			continue
		}
		cmd = spec.cmd
		d, err := ucan.NewDelegation(root, ucan.DelegationFields{Audience: sess.DID(), Subject: root.DID(),
			Command: spec.cmd, Policy: spec.policy, Expiration: now.Add(time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		chain = append(chain, d.Bytes())
	}
	m := &Membership{Community: root.DID(), Member: "did:plc:batchmember0000000000", SessionKey: sess.DID(),
		Grants: []Grant{{Command: cmd, Chain: chain}}}
	s, err := NewSession(m, sess)
	if err != nil {
		tb.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	return s
}

// batchWrites returns n creates of chat messages; every fourth has a
// reply link, every fifth an audience when audience is set.
func batchWrites(n int, audience string) []Write {
	ws := make([]Write, n)
	for i := range ws {
		rec := &batchMessage{Type: NSIDMessage, Channel: fmt.Sprintf("channel-%d", i%7),
			Text:      fmt.Sprintf("message %d of the import, with some text to make it look like a chat line", i),
			CreatedAt: fmt.Sprintf("2026-11-20T23:%02d:%02d.000Z", i/60%60, i%60)}
		if i%4 == 3 {
			rec.ReplyTo = fmt.Sprintf("at://did:plc:batchcommunity/%s/3lbatch%06d", NSIDMessage, i-1)
		}
		ws[i] = Write{Action: repo.ActionCreate, Collection: NSIDMessage, RKey: fmt.Sprintf("3lbatch%06d", i), Record: rec}
		if audience != "" && i%5 == 4 {
			ws[i].Audience = audience
		}
	}
	return ws
}

// BenchmarkSessionBatch signs a /repo/batch of 256 chat messages (the
// import example's -batch 256): every record encoded and hashed, the
// arguments built, checked against the grant's policy, and the invocation
// encoded and signed (Ed25519).
func BenchmarkSessionBatch(b *testing.B) {
	s := batchSession(b, testRoles[0])
	ws := batchWrites(256, "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Batch(ws); err != nil {
			b.Fatal(err)
		}
	}
}

// mapBatch is what Session.Batch sent before it wrote each write's
// arguments as a drisl.Map and hashed the records together: the
// arguments as map[string]any, each record through drisl.MarshalCID; in
// the shared form (batchShared) when every write has the first's
// collection and audience, the action too if all have the first's.
func mapBatch(ws []Write) (map[string]any, [][]byte, error) {
	list := make([]any, len(ws))
	var recs [][]byte
	top := map[string]any{}
	shared, sharedAction := len(ws) > 0, len(ws) > 0
	for _, w := range ws {
		shared = shared && w.Collection == ws[0].Collection && w.Audience == ws[0].Audience
		sharedAction = sharedAction && w.Action == ws[0].Action
	}
	for i, w := range ws {
		args := map[string]any{"collection": w.Collection, "rkey": w.RKey, "action": string(w.Action)}
		if w.Audience != "" {
			args["audience"] = w.Audience
		}
		if shared {
			top["collection"] = w.Collection
			delete(args, "collection")
			if w.Audience != "" {
				top["audience"] = w.Audience
				delete(args, "audience")
			}
			if sharedAction {
				top["action"] = string(w.Action)
				delete(args, "action")
			}
		}
		if w.Action != repo.ActionDelete {
			data, c, err := drisl.MarshalCID(w.Record)
			if err != nil {
				return nil, nil, err
			}
			args["cid"] = c
			recs = append(recs, data)
		}
		list[i] = args
	}
	top["writes"] = list
	return top, recs, nil
}

// TestBatchMatchesMaps checks that Session.Batch's request is, byte for
// byte, the one built from map[string]any arguments and records hashed one
// by one (mapBatch), signed with the same nonce and times (Ed25519
// signatures are deterministic): creates, updates and deletes, with and
// without audiences, struct and map records, batches of every size around
// the eight lanes of the hash; and that a record that does not encode
// fails the batch with drisl's error.
func TestBatchMatchesMaps(t *testing.T) {
	s := batchSession(t, testRoles[1])
	// check compares the request with mapBatch's and returns the
	// invocation's top-level arguments.
	check := func(name string, ws []Write) map[string]any {
		t.Helper()
		req, err := s.Batch(ws)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		args, recs, err := mapBatch(ws)
		if err != nil {
			t.Fatal(err)
		}
		if len(req.Records) != len(recs) || !slices.EqualFunc(req.Records, recs, bytes.Equal) {
			t.Fatalf("%s: records differ", name)
		}
		if (req.Records == nil) != (recs == nil) {
			t.Fatalf("%s: records nil %v, want nil %v", name, req.Records == nil, recs == nil)
		}
		if !slices.EqualFunc(req.Proofs, s.Membership.Grants[0].Chain, bytes.Equal) {
			t.Fatalf("%s: proofs differ from the grant's chain", name)
		}
		inv, err := ucan.ParseInvocation(req.Invocation)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ucan.NewInvocation(s.Signer, ucan.InvocationFields{Subject: s.Membership.Community, Command: CmdBatch,
			Args: args, Proofs: inv.Proofs, Nonce: inv.Nonce, Expiration: time.Unix(*inv.Expiration, 0),
			IssuedAt: time.Unix(*inv.IssuedAt, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(req.Invocation, want.Bytes()) {
			t.Fatalf("%s: the invocation differs from the one of map arguments", name)
		}
		return inv.Args
	}
	// form says which of the shared arguments a batch carries.
	form := func(args map[string]any) string {
		var f []string
		for _, k := range []string{"collection", "audience", "action"} {
			if _, ok := args[k]; ok {
				f = append(f, k)
			}
		}
		return strings.Join(f, "+")
	}
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 17, 64, 256} {
		ws := batchWrites(n, "staff")
		for i := range ws {
			switch i % 6 {
			case 1:
				ws[i].Action = repo.ActionUpdate
				ws[i].Record = message(fmt.Sprintf("edited %d", i))
			case 5:
				ws[i].Action, ws[i].Record = repo.ActionDelete, nil
			}
		}
		args := check(fmt.Sprintf("%d mixed writes", n), ws)
		// Every fifth write has an audience: the first form from 5 on.
		if want := map[bool]string{true: "", false: "collection"}[n >= 5 || n == 0]; n != 1 && form(args) != want {
			t.Errorf("%d mixed writes: shared %q, want %q", n, form(args), want)
		}
		if n == 0 {
			continue
		}
		for i := range ws {
			ws[i].Audience = "staff"
		}
		if got := form(check(fmt.Sprintf("%d writes to staff", n), ws)); got != "collection+audience" && (n > 1 || got != "collection+audience+action") {
			t.Errorf("%d writes to staff: shared %q", n, got)
		}
		for i := range ws {
			ws[i].Action, ws[i].Record, ws[i].Audience = repo.ActionDelete, nil, ""
		}
		if got := form(check(fmt.Sprintf("%d deletes", n), ws)); got != "collection+action" {
			t.Errorf("%d deletes: shared %q, want collection+action", n, got)
		}
	}
	// An argument drisl refuses (invalid UTF-8), signed under a grant
	// with no policy: the error of the map arguments, path included.
	mod := batchSession(t, testRoles[2])
	ws := batchWrites(9, "")
	ws[4].Collection = "dev.townhall.\xff"
	args, _, err := mapBatch(ws)
	if err != nil {
		t.Fatal(err)
	}
	_, want := ucan.NewInvocation(mod.Signer, ucan.InvocationFields{Subject: mod.Membership.Community, Command: CmdBatch,
		Args: args, NoExpiration: true})
	if _, err := mod.Batch(ws); err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("an argument that does not encode: %v, want %v", err, want)
	}
	ws = batchWrites(9, "")
	ws[6].Record = map[string]any{"$type": NSIDMessage, "n": math.Inf(1)}
	_, want = drisl.Marshal(ws[6].Record)
	if _, err := s.Batch(ws); err == nil || want == nil || err.Error() != want.Error() {
		t.Fatalf("a record that does not encode: %v, want %v", err, want)
	}
}
