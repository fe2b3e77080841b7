package community

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/auth"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
)

// publicJWT reads member's join JWT from the community's public binding
// records, as any reader of the repository (or the firehose) can.
func publicJWT(t *testing.T, c *Community, member string) string {
	t.Helper()
	recs, _, err := c.Repo().ListRecords(context.Background(), NSIDBinding, repo.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var b bindingRecord
		if err := drisl.Unmarshal(r.Value, &b); err == nil && b.Member == member {
			return b.ServiceAuth
		}
	}
	t.Fatalf("no binding record of %s", member)
	return ""
}

// replayJoin is an outsider's join with a fresh session key naming member
// and jwt.
func (w *world) replayJoin(c *Community, member, jwt string) error {
	w.t.Helper()
	proof, err := NewJoinProof(sessionKey(w.t), JoinProofFields{Community: c.DID(), Member: member, ServiceAuth: jwt,
		Expiration: w.clock.Now().Add(time.Minute)})
	if err != nil {
		w.t.Fatal(err)
	}
	_, err = c.Join(context.Background(), JoinRequest{ServiceAuth: jwt, Proof: proof})
	return err
}

// otherSignatureEncoding returns jwt with the last character of its
// signature changed in base64url's unused trailing bits: another string
// that decodes to the same signature.
func otherSignatureEncoding(t *testing.T, jwt string) string {
	t.Helper()
	i := strings.LastIndexByte(jwt, '.')
	sig := jwt[i+1:]
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	for d := 1; d < 4; d++ {
		alt := sig[:len(sig)-1] + string(alphabet[last^d])
		if got, err := base64.RawURLEncoding.DecodeString(alt); err == nil && string(got) == string(want) {
			return jwt[:i+1] + alt
		}
	}
	t.Fatal("no other encoding of the signature")
	return ""
}

// TestJoinJWTReplay: the join JWT is public (in the binding record); an
// outsider replaying it with their own session key, under the same or
// another encoding, is refused, and nothing is bound to that key; a member
// with a fresh JWT still joins.
func TestJoinJWTReplay(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, _ := w.newCommunity(h, "member")
	alice := w.join(c, "alice", nil, Role{})
	jwt := publicJWT(t, c, alice.did)
	bindings := func() int {
		recs, _, err := c.Repo().ListRecords(ctx, NSIDBinding, repo.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	before := bindings()
	for name, tok := range map[string]string{"same": jwt, "re-encoded": otherSignatureEncoding(t, jwt)} {
		if err := w.replayJoin(c, alice.did, tok); !errors.Is(err, ErrServiceAuth) || !strings.Contains(err.Error(), "already used") {
			t.Errorf("%s JWT replayed by an outsider: %v", name, err)
		}
	}
	if n := bindings(); n != before {
		t.Errorf("bindings: %d after the replays, %d before", n, before)
	}
	bob := w.join(c, "bob", nil, Role{})
	if _, err := c.Invoke(ctx, w.rq(bob.sess.Create(NSIDMessage, newTID(), message("hello")))); err != nil {
		t.Fatalf("a legitimate member after the replays: %v", err)
	}
}

// TestJoinJWTReplayAfterReopen: the spent JWTs are rebuilt from the binding
// records when the host restarts on the same store.
func TestJoinJWTReplayAfterReopen(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dir := t.TempDir()
	open := func() (*Host, func()) {
		s, p, closeStores := openSQLiteStores(t, dir)
		return newHostOn(t, w, s, p), closeStores
	}
	h, closeStores := open()
	c, _ := w.newCommunity(h, "member")
	alice := w.join(c, "alice", nil, Role{})
	jwt := publicJWT(t, c, alice.did)
	did := c.DID()
	h.Close()
	closeStores()

	h2, closeStores2 := open()
	defer closeStores2()
	c2, err := h2.Open(ctx, did)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.replayJoin(c2, alice.did, jwt); !errors.Is(err, ErrServiceAuth) {
		t.Errorf("JWT replayed after a restart: %v", err)
	}
	w.join(c2, "bob", nil, Role{})
}

// TestJoinJWTConcurrent: two joins presenting one JWT at once (two session
// keys, each with a valid proof): exactly one is bound.
func TestJoinJWTConcurrent(t *testing.T) {
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, _ := w.newCommunity(h, "member")
	did := w.account("alice")
	jwt := w.jwt(did, c.DID(), LXMJoin)
	for round := 0; round < 8; round++ {
		if round > 0 {
			jwt = w.jwt(did, c.DID(), LXMJoin)
		}
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.replayJoin(c, did, jwt)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrServiceAuth):
				t.Errorf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d joins with one JWT were bound: %v", round, ok, n, errs)
		}
	}
}

// TestCreateJWTReplay: a founder's JWT (public in the new community's
// binding record) cannot create a second community, nor serve two founders
// of one; a refused Create leaves the JWT unspent.
func TestCreateJWTReplay(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, founder := w.newCommunity(h, "member")
	jwt := publicJWT(t, c, founder.did)
	create := func(founders ...JoinRequest) error {
		_, err := h.Create(ctx, CreateOptions{Name: "Again", RecoveryKeys: []string{w.recoveryDID()}, Founders: founders})
		return err
	}
	proof := func(jwt string) JoinRequest {
		p, err := NewJoinProof(sessionKey(t), JoinProofFields{Member: founder.did, ServiceAuth: jwt, Expiration: w.clock.Now().Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return JoinRequest{ServiceAuth: jwt, Proof: p}
	}
	if err := create(proof(jwt)); !errors.Is(err, ErrServiceAuth) {
		t.Errorf("founder's JWT replayed in Create: %v", err)
	}
	fresh := w.jwt(founder.did, h.opts.ServiceDID, LXMCreate)
	if err := create(proof(fresh), proof(fresh)); !errors.Is(err, ErrServiceAuth) {
		t.Errorf("one JWT for two founders: %v", err)
	}
	// The refused Create gave the fresh JWT back.
	if err := create(proof(fresh)); err != nil {
		t.Errorf("Create with the JWT a refused Create presented: %v", err)
	}
}

// signJWT signs a service-auth JWT with the given claims (ES256, as
// indigo's SignServiceAuth does for a P-256 key).
func (w *world) signJWT(member string, claims map[string]any) string {
	w.t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			w.t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	sig, err := w.pds[member].HashAndSign([]byte(input))
	if err != nil {
		w.t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestJoinJWTLifetime: a JWT living longer than Limits.MaxInvocationTTL
// (exp - iat), or without iat, is refused; one within it is accepted.
func TestJoinJWTLifetime(t *testing.T) {
	w := newWorld(t)
	h := w.newHost(memHost, "host")
	c, _ := w.newCommunity(h, "member")
	did := w.account("alice")
	join := func(jwt string) error { return w.replayJoin(c, did, jwt) }
	nsid := syntax.NSID(LXMJoin)
	long, err := auth.SignServiceAuth(syntax.DID(did), c.DID(), DefaultMaxInvocationTTL+time.Minute, &nsid, w.pds[did])
	if err != nil {
		t.Fatal(err)
	}
	if err := join(long); !errors.Is(err, ErrServiceAuth) || !strings.Contains(err.Error(), "lifetime") {
		t.Errorf("JWT living %s: %v", DefaultMaxInvocationTTL+time.Minute, err)
	}
	now := time.Now().Unix()
	noIat := w.signJWT(did, map[string]any{"iss": did, "aud": c.DID(), "lxm": LXMJoin, "exp": now + 60, "jti": "x"})
	if err := join(noIat); !errors.Is(err, ErrServiceAuth) || !strings.Contains(err.Error(), "iat") {
		t.Errorf("JWT without iat: %v", err)
	}
	ok := w.signJWT(did, map[string]any{"iss": did, "aud": c.DID(), "lxm": LXMJoin, "exp": now + 60, "iat": now, "jti": "y"})
	if err := join(ok); err != nil {
		t.Errorf("JWT of 60 s signed by hand: %v", err)
	}
}
