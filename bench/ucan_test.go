package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/ucan"
)

// ucanCPU returns the process's user+system CPU time. The machine these
// benchmarks run on is shared and loaded, so wall-clock ns/op is noisy;
// ucanLoop reports CPU time per iteration beside it as "cpu-ns/op".
func ucanCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ucanLoop runs op in a b.Loop and reports cpu-ns/op.
func ucanLoop(b *testing.B, op func() error) {
	b.ReportAllocs()
	start := ucanCPU()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ucanCPU()-start)/float64(b.N), "cpu-ns/op")
}

// noReplay is a ReplayGuard that remembers nothing, so that one
// invocation can be validated b.N times. (The default MemoryReplayGuard
// costs one map insert per validation on top of what is measured here.)
type noReplay struct{}

func (noReplay) Record(context.Context, cid.Cid, time.Time) error { return nil }

// ucanSigner returns a signer whose key is derived from alg and label, so
// that every run of a benchmark does the same setup work (callgrind
// instruction counts of two runs are subtracted to remove the setup).
func ucanSigner(b *testing.B, alg ucan.Algorithm, label string) *ucan.KeySigner {
	seed := sha256.Sum256([]byte(alg.String() + "/" + label))
	var s *ucan.KeySigner
	var err error
	switch alg {
	case ucan.Ed25519:
		s, err = ucan.NewEd25519Signer(ed25519.NewKeyFromSeed(seed[:]))
	case ucan.ES256:
		k, perr := atcrypto.ParsePrivateBytesP256(seed[:])
		if perr != nil {
			b.Fatal(perr)
		}
		s, err = ucan.NewAtcryptoSigner(k)
	default:
		k, perr := atcrypto.ParsePrivateBytesK256(seed[:])
		if perr != nil {
			b.Fatal(perr)
		}
		s, err = ucan.NewAtcryptoSigner(k)
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// ucanBenchPolicy is the one-statement policy of every bench delegation.
func ucanBenchPolicy(b *testing.B) ucan.Policy {
	pol, err := ucan.ParsePolicyJSON([]byte(`[["==", ".collection", "dev.townhall.chat.message"]]`))
	if err != nil {
		b.Fatal(err)
	}
	return pol
}

// ucanDelegate stores in store from's delegation of cmd on subject to to,
// valid for a day after now, and returns its CID.
func ucanDelegate(b *testing.B, store *ucan.MemoryProofStore, from *ucan.KeySigner, to, subject, cmd string, pol ucan.Policy, now time.Time) cid.Cid {
	d, err := ucan.NewDelegation(from, ucan.DelegationFields{
		Audience:   to,
		Subject:    subject,
		Command:    cmd,
		Policy:     pol,
		Expiration: now.Add(24 * time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Put(d.Bytes()); err != nil {
		b.Fatal(err)
	}
	return d.CID()
}

// ucanCreate is by's /repo/create invocation of a message on subject,
// with proofs prf, valid for a minute after now.
func ucanCreate(b *testing.B, by *ucan.KeySigner, subject string, prf []cid.Cid, now time.Time) []byte {
	inv, err := ucan.NewInvocation(by, ucan.InvocationFields{
		Subject: subject,
		Command: "/repo/create",
		Args: map[string]any{
			"collection": "dev.townhall.chat.message",
			"record":     map[string]any{"text": "hello, community", "createdAt": "2026-11-20T23:00:00Z"},
		},
		Proofs:     prf,
		Expiration: now.Add(time.Minute),
	})
	if err != nil {
		b.Fatal(err)
	}
	return inv.Bytes()
}

// ucanChain builds subject -> a -> b -> invoker (3 delegations, each with a
// one-statement policy) and an invocation by the invoker.
func ucanChain(b *testing.B, alg ucan.Algorithm, now time.Time) (*ucan.MemoryProofStore, []byte) {
	signers := make([]*ucan.KeySigner, 4)
	for i := range signers {
		signers[i] = ucanSigner(b, alg, fmt.Sprint("chain ", i))
	}
	pol := ucanBenchPolicy(b)
	store := ucan.NewMemoryProofStore()
	var prf []cid.Cid
	cmds := []string{"/repo", "/repo/create", "/repo/create"}
	for i := 0; i < 3; i++ {
		prf = append(prf, ucanDelegate(b, store, signers[i], signers[i+1].DID(), signers[0].DID(), cmds[i], pol, now))
	}
	return store, ucanCreate(b, signers[3], signers[0].DID(), prf, now)
}

// ucanInvokers builds subject -> a -> b as ucanChain does, then n invokers,
// each with its own delegation from b and one invocation: tokens[i] is
// invoker i's invocation.
func ucanInvokers(b *testing.B, alg ucan.Algorithm, now time.Time, n int) (*ucan.MemoryProofStore, [][]byte) {
	signers := []*ucan.KeySigner{ucanSigner(b, alg, "root"), ucanSigner(b, alg, "a"), ucanSigner(b, alg, "b")}
	pol := ucanBenchPolicy(b)
	store := ucan.NewMemoryProofStore()
	subject := signers[0].DID()
	c0 := ucanDelegate(b, store, signers[0], signers[1].DID(), subject, "/repo", pol, now)
	c1 := ucanDelegate(b, store, signers[1], signers[2].DID(), subject, "/repo/create", pol, now)
	tokens := make([][]byte, n)
	for i := range tokens {
		s := ucanSigner(b, alg, fmt.Sprint("invoker ", i))
		c2 := ucanDelegate(b, store, signers[2], s.DID(), subject, "/repo/create", pol, now)
		tokens[i] = ucanCreate(b, s, subject, []cid.Cid{c0, c1, c2}, now)
	}
	return store, tokens
}

// ucanNewKeyInvokers is the number of invokers of the newkey case: more
// than the validator's did:key cache holds (1024), so that cycling through
// them, every invoker key is parsed afresh and never becomes hot.
const ucanNewKeyInvokers = 1100

// BenchmarkUCANValidate validates an invocation with a 3-delegation chain:
// cold (a new validator: 4 signature verifications, 4 did:key parses),
// warm (the delegations are in the verified cache: 1 verification, by an
// invoker key that signs every invocation, so a hot key) and warm-newkey
// (the delegations are in the verified cache, but each invocation comes
// from another of ucanNewKeyInvokers invokers: 1 did:key parse and 1
// verification by a key the validator does not hold).
func BenchmarkUCANValidate(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ctx := context.Background()
	for _, alg := range []ucan.Algorithm{ucan.Ed25519, ucan.ES256, ucan.ES256K} {
		store, tok := ucanChain(b, alg, now)
		opts := ucan.ValidatorOptions{Proofs: store, Now: clock, Replay: noReplay{}}
		name := "townhall/" + strings.ToLower(alg.String())
		b.Run(name+"/cold", func(b *testing.B) {
			ucanLoop(b, func() error {
				_, err := ucan.NewValidator(opts).Validate(ctx, tok)
				return err
			})
		})
		b.Run(name+"/warm", func(b *testing.B) {
			ucanLoopWarm(b, ctx, ucan.NewValidator(opts), tok)
		})
		b.Run(name+"/warm-newkey", func(b *testing.B) {
			store, toks := ucanInvokers(b, alg, now, ucanNewKeyInvokers)
			v := ucan.NewValidator(ucan.ValidatorOptions{Proofs: store, Now: clock, Replay: noReplay{}})
			for _, tok := range toks {
				if _, err := v.Validate(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			ucanLoop(b, func() error {
				_, err := v.Validate(ctx, toks[i%len(toks)])
				i++
				return err
			})
		})
	}
}

// BenchmarkUCANParseInvocation parses (strict DRISL decode, fields, CID)
// the invocation of BenchmarkUCANValidate without verifying anything: the
// part of the warm case that is neither the signature check nor the chain.
func BenchmarkUCANParseInvocation(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	for _, alg := range []ucan.Algorithm{ucan.Ed25519, ucan.ES256, ucan.ES256K} {
		_, tok := ucanChain(b, alg, now)
		b.Run("townhall/"+strings.ToLower(alg.String()), func(b *testing.B) {
			ucanLoop(b, func() error {
				_, err := ucan.ParseInvocation(tok)
				return err
			})
		})
	}
}

// BenchmarkUCANSignatureFloor verifies one invocation signature and
// nothing else: the floor under BenchmarkUCANValidate's warm case.
func BenchmarkUCANSignatureFloor(b *testing.B) {
	for _, alg := range []ucan.Algorithm{ucan.Ed25519, ucan.ES256, ucan.ES256K} {
		s := ucanSigner(b, alg, "floor")
		inv, err := ucan.NewInvocation(s, ucan.InvocationFields{Subject: s.DID(), Command: "/repo/create", NoExpiration: true})
		if err != nil {
			b.Fatal(err)
		}
		key := s.PublicKey()
		b.Run("townhall/"+strings.ToLower(alg.String()), func(b *testing.B) {
			ucanLoop(b, func() error { return key.Verify(inv.SignedBytes(), inv.Signature) })
		})
	}
}

// ucanBatchWrites is the number of writes of BenchmarkUCANInvocationBatch's
// invocation: the import example's -batch default.
const ucanBatchWrites = 64

// ucanBatchArgs returns /repo/batch arguments shaped as community's
// Session.Batch writes them: {writes: [{action, collection, rkey, cid}]},
// every fourth write with an audience.
func ucanBatchArgs(n int) map[string]any {
	writes := make([]any, n)
	for i := range writes {
		rec := fmt.Sprintf(`{"text": "message %d", "createdAt": "2026-11-20T23:00:00Z"}`, i)
		w := map[string]any{
			"action":     "create",
			"collection": "dev.townhall.chat.message",
			"rkey":       fmt.Sprintf("3lbatch%06d", i),
			"cid":        cid.NewCidV1(cid.DagCBOR, ucanMultihash(rec)),
		}
		if i%4 == 3 {
			w["audience"] = "staff"
		}
		writes[i] = w
	}
	return map[string]any{"writes": writes}
}

// ucanLoopWarm measures v.Validate(ctx, tok) after 100 validations of tok:
// past the validator's hot-key thresholds (16 ES256, 32 Ed25519, 64 ES256K
// validated invocations), so that the loop measures a hot invoker key with
// its table.
func ucanLoopWarm(b *testing.B, ctx context.Context, v *ucan.Validator, tok []byte) {
	for range 100 {
		if _, err := v.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	ucanLoop(b, func() error {
		_, err := v.Validate(ctx, tok)
		return err
	})
}

// ucanMustInvoke is NewInvocation that fails b on error.
func ucanMustInvoke(b *testing.B, s ucan.Signer, f ucan.InvocationFields) *ucan.Invocation {
	inv, err := ucan.NewInvocation(s, f)
	if err != nil {
		b.Fatal(err)
	}
	return inv
}

// ucanOrderedWrites returns args with each write as a sorted drisl.Map.
func ucanOrderedWrites(args map[string]any) map[string]any {
	writes := args["writes"].([]any)
	out := make([]any, len(writes))
	for i, w := range writes {
		var m drisl.Map
		for k, v := range w.(map[string]any) {
			m = append(m, drisl.Entry{Key: k, Value: v})
		}
		m.Sort()
		out[i] = m
	}
	return map[string]any{"writes": out}
}

// ucanMultihash is the sha2-256 multihash of s.
func ucanMultihash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return append([]byte{0x12, 0x20}, sum[:]...)
}

// ucanBatchPolicy is the policy community gives a member role's "/repo"
// delegation: ["or", [P, ["all", ".writes", P]]], P = (collection is one
// of the role's) and (audience absent or one of the role's).
func ucanBatchPolicy(b *testing.B) ucan.Policy {
	pol, err := ucan.ParsePolicyJSON([]byte(`[["or", [
		["and", [["or", [["==", ".collection", "dev.townhall.chat.message"], ["like", ".collection", "dev.townhall.chat.*"]]],
		         ["or", [["==", ".audience", null], ["==", ".audience", "staff"]]]]],
		["all", ".writes",
		 ["and", [["or", [["==", ".collection", "dev.townhall.chat.message"], ["like", ".collection", "dev.townhall.chat.*"]]],
		          ["or", [["==", ".audience", null], ["==", ".audience", "staff"]]]]]]]]]`))
	if err != nil {
		b.Fatal(err)
	}
	return pol
}

// BenchmarkUCANInvocationBatch creates (NewInvocation, Ed25519 signer) and
// validates a /repo/batch invocation of ucanBatchWrites writes, as the
// import example sends 1,889 of. Validation goes through a 2-delegation
// chain (community -> moderator -> invoker, each "/repo" with the batch
// policy) held by a warm validator (delegations verified and cached, the
// invoker's key hot after 100 validations), with no replay guard so that
// one token validates b.N times.
func BenchmarkUCANInvocationBatch(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ctx := context.Background()
	root := ucanSigner(b, ucan.Ed25519, "batch root")
	mod := ucanSigner(b, ucan.Ed25519, "batch moderator")
	invoker := ucanSigner(b, ucan.Ed25519, "batch invoker")
	pol := ucanBatchPolicy(b)
	store := ucan.NewMemoryProofStore()
	prf := []cid.Cid{
		ucanDelegate(b, store, root, mod.DID(), root.DID(), "/repo", pol, now),
		ucanDelegate(b, store, mod, invoker.DID(), root.DID(), "/repo", pol, now),
	}
	args := ucanBatchArgs(ucanBatchWrites)
	fields := ucan.InvocationFields{
		Subject:    root.DID(),
		Command:    "/repo/batch",
		Args:       args,
		Proofs:     prf,
		Expiration: now.Add(time.Minute),
		IssuedAt:   now,
	}
	b.Run("townhall-create", func(b *testing.B) {
		ucanLoop(b, func() error {
			_, err := ucan.NewInvocation(invoker, fields)
			return err
		})
	})
	// The same invocation with each write a drisl.Map in key order, which
	// Marshal writes without sorting: the same bytes for the same nonce.
	ordered := fields
	ordered.Args = ucanOrderedWrites(args)
	fixed, fixedOrdered := fields, ordered
	fixed.Nonce, fixedOrdered.Nonce = []byte("bench nonce"), []byte("bench nonce")
	if a, b1 := ucanMustInvoke(b, invoker, fixed), ucanMustInvoke(b, invoker, fixedOrdered); a.CID() != b1.CID() {
		b.Fatal("ordered writes encode differently")
	}
	b.Run("townhall-create-ordered", func(b *testing.B) {
		ucanLoop(b, func() error {
			_, err := ucan.NewInvocation(invoker, ordered)
			return err
		})
	})
	tok := ucanMustInvoke(b, invoker, fields).Bytes()
	b.Run("townhall-validate", func(b *testing.B) {
		ucanLoopWarm(b, ctx, ucan.NewValidator(ucan.ValidatorOptions{Proofs: store, Now: clock, Replay: noReplay{}}), tok)
	})
}
