package ucan

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
)

// t0 is the fixed test clock.
var t0 = time.Unix(1_800_000_000, 0)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func newSigner(t testing.TB, alg Algorithm) *KeySigner {
	t.Helper()
	var s *KeySigner
	var err error
	switch alg {
	case Ed25519:
		_, priv, gerr := ed25519.GenerateKey(nil)
		if gerr != nil {
			t.Fatal(gerr)
		}
		s, err = NewEd25519Signer(priv)
	case ES256:
		k, gerr := atcrypto.GeneratePrivateKeyP256()
		if gerr != nil {
			t.Fatal(gerr)
		}
		s, err = NewAtcryptoSigner(k)
	case ES256K:
		k, gerr := atcrypto.GeneratePrivateKeyK256()
		if gerr != nil {
			t.Fatal(gerr)
		}
		s, err = NewAtcryptoSigner(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// world is a subject, a chain of delegates and a validator for tests.
type world struct {
	t      testing.TB
	signer []*KeySigner // signer[0] is the subject
	chain  []*Delegation
	store  *MemoryProofStore
}

// newWorld builds a chain of n delegations of cmd with no time bounds:
// signer[0] -> signer[1] -> ... -> signer[n]; signer[n] is the invoker.
func newWorld(t testing.TB, alg Algorithm, n int, cmd string) *world {
	w := &world{t: t, store: NewMemoryProofStore()}
	for i := 0; i <= n; i++ {
		w.signer = append(w.signer, newSigner(t, alg))
	}
	for i := 0; i < n; i++ {
		w.delegate(i, DelegationFields{Command: cmd, NoExpiration: true})
	}
	return w
}

// delegate appends a delegation from signer[i] to signer[i+1].
func (w *world) delegate(i int, f DelegationFields) *Delegation {
	w.t.Helper()
	f.Audience = w.signer[i+1].DID()
	if !f.Powerline && f.Subject == "" {
		f.Subject = w.signer[0].DID()
	}
	d, err := NewDelegation(w.signer[i], f)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.Put(d.Bytes()); err != nil {
		w.t.Fatal(err)
	}
	w.chain = append(w.chain, d)
	return d
}

func (w *world) proofs() []cid.Cid {
	out := make([]cid.Cid, len(w.chain))
	for i, d := range w.chain {
		out[i] = d.CID()
	}
	return out
}

func (w *world) invoker() *KeySigner { return w.signer[len(w.signer)-1] }

// invoke signs an invocation by the last signer over the whole chain.
func (w *world) invoke(cmd string, args map[string]any) *Invocation {
	w.t.Helper()
	inv, err := NewInvocation(w.invoker(), InvocationFields{
		Subject:    w.signer[0].DID(),
		Command:    cmd,
		Args:       args,
		Proofs:     w.proofs(),
		Expiration: t0.Add(time.Hour),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

func (w *world) validator(opts ValidatorOptions) *Validator {
	if opts.Proofs == nil {
		opts.Proofs = w.store
	}
	if opts.Now == nil {
		opts.Now = fixedClock(t0)
	}
	return NewValidator(opts)
}

func wantName(t testing.TB, err error, name string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s", name)
	}
	if got := ErrorName(err); got != name {
		t.Fatalf("error %q (%v), want %s", got, err, name)
	}
}

var ctx = context.Background()
