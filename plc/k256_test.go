package plc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"

	"github.com/townhall-dev/townhall/internal/ecverify"
)

// TestK256MatchesAtcrypto checks both K-256 verifications of this package
// (one-shot and table-based) against indigo atcrypto's on valid signatures
// and on every way we know to break one.
func TestK256MatchesAtcrypto(t *testing.T) {
	gt := ecverify.NewK256GeneratorTable()
	for range 2 {
		k := newKey(t, true)
		rk := parseRotationKey(k.did)
		if rk.point == nil {
			t.Fatal("no point")
		}
		tbl := ecverify.NewK256Table(rk.point)
		other := newKey(t, true)
		for i := 0; i < 12; i++ {
			msg := make([]byte, 10+i*13)
			rand.Read(msg)
			sig, err := k.priv.HashAndSign(msg)
			if err != nil {
				t.Fatal(err)
			}
			otherSig, _ := other.priv.HashAndSign(msg)
			flip := func(b []byte, i int) []byte {
				c := append([]byte{}, b...)
				c[i%len(c)] ^= 1 << (i % 8)
				return c
			}
			s := new(big.Int).SetBytes(sig[32:])
			twin := append([]byte{}, sig...)
			new(big.Int).Sub(orderK256, s).FillBytes(twin[32:])
			rN := append([]byte{}, sig...)
			orderK256.FillBytes(rN[:32])
			sN := append([]byte{}, sig...)
			orderK256.FillBytes(sN[32:])
			half := append([]byte{}, sig...)
			halfK256.FillBytes(half[32:])
			halfPlus := append([]byte{}, sig...)
			new(big.Int).Add(halfK256, big.NewInt(1)).FillBytes(halfPlus[32:])
			cases := []struct {
				name string
				msg  []byte
				sig  []byte
			}{
				{"valid", msg, sig},
				{"other key", msg, otherSig},
				{"message bit", flip(msg, i), sig},
				{"r bit", msg, flip(sig, i)},
				{"s bit", msg, flip(sig, 32+i)},
				{"high-S twin", msg, twin},
				{"r zero", msg, append(make([]byte, 32), sig[32:]...)},
				{"s zero", msg, append(append([]byte{}, sig[:32]...), make([]byte, 32)...)},
				{"r = n", msg, rN},
				{"s = n", msg, sN},
				{"s = n/2", msg, half},
				{"s = n/2+1", msg, halfPlus},
				{"short", msg, sig[:63]},
			}
			for _, c := range cases {
				want := mustPub(t, k).HashAndVerify(c.msg, c.sig) == nil
				sc := newSigCheck(c.msg, c.sig)
				if got := sc.k256.VerifyTables(gt, tbl); got != want {
					t.Fatalf("%s: table says %v, atcrypto %v", c.name, got, want)
				}
				sc = newSigCheck(c.msg, c.sig)
				if got := sc.k256.Verify(rk.point); got != want {
					t.Fatalf("%s: one-shot says %v, atcrypto %v", c.name, got, want)
				}
				// One prepared signature tried against two keys, in
				// both orders, as verifyAny does.
				wantOther := mustPub(t, other).HashAndVerify(c.msg, c.sig) == nil
				sc = newSigCheck(c.msg, c.sig)
				if sc.k256.Verify(parseRotationKey(other.did).point) != wantOther || sc.k256.Verify(rk.point) != want {
					t.Fatalf("%s: reused scalars give a different answer", c.name)
				}
				if c.name == "valid" && !want {
					t.Fatal("valid signature rejected")
				}
			}
		}
	}
}

func mustPub(t *testing.T, k testKey) atcrypto.PublicKey {
	pub, err := k.priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestKeyCacheBuildsTables: after tableThreshold verifications a K-256
// key verifies through its table, with the same answers.
func TestKeyCacheBuildsTables(t *testing.T) {
	k := newKey(t, true)
	c := &KeyCache{}
	msg := []byte("operation")
	sig, _ := k.priv.HashAndSign(msg)
	bad := append([]byte{}, sig...)
	bad[5] ^= 1
	for i := 0; i < tableThreshold+3; i++ {
		rk := c.get(k.did)
		good, forged := newSigCheck(msg, sig), newSigCheck(msg, bad)
		if !c.verify(rk, &good) || c.verify(rk, &forged) {
			t.Fatalf("round %d: wrong answer", i)
		}
	}
	if c.get(k.did).table.Load() == nil {
		t.Fatal("no table built")
	}
	p := newKey(t, false)
	psig, _ := p.priv.HashAndSign(msg)
	for i := 0; i < tableThreshold+3; i++ {
		rk := c.get(p.did)
		good, other := newSigCheck(msg, psig), newSigCheck(msg, sig)
		if !c.verify(rk, &good) || c.verify(rk, &other) {
			t.Fatalf("P-256 round %d: wrong answer", i)
		}
	}
	if c.get(p.did).table.Load() != nil || c.get(p.did).ptable.Load() == nil {
		t.Fatal("P-256 key did not get (only) a P-256 table")
	}
}

// TestLongLog validates generated K-256 and P-256 logs long enough for the
// table path, serially and in parallel, and finds a forged signature in
// them.
func TestLongLog(t *testing.T) {
	for _, k256 := range []bool{true, false} {
		testLongLog(t, k256)
	}
}

func testLongLog(t *testing.T, k256 bool) {
	host, rec := newKey(t, k256), newKey(t, k256)
	g, did, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{rec.did}, HostRotationKey: host.did, SigningKey: host.did, Endpoint: "https://h.test"}, host.priv)
	if err != nil {
		t.Fatal(err)
	}
	s := NewAuditState(did, ValidateOptions{})
	at := mustTime(t, "2026-01-01T00:00:00.000Z")
	if _, err := s.Apply(g, at); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 2*tableThreshold+8; i++ {
		at = at.Add(time.Minute)
		op, err := Update(s, UpdateOptions{AlsoKnownAs: []string{fmt.Sprint("at://n", i, ".test")}}, host.priv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(op, at); err != nil {
			t.Fatal(err)
		}
	}
	log := s.Entries()
	keys := &KeyCache{}
	for _, w := range []int{1, 2} {
		if _, err := ValidateAuditLog(did, log, ValidateOptions{Workers: w, Keys: keys}); err != nil {
			t.Fatalf("workers=%d: %v", w, err)
		}
	}
	// Re-sign op 60 with a key that is not a rotation key: same CID chain
	// broken at 60 (its CID changes), so fix the entry's CID and expect a
	// signature error exactly there.
	forged := log[60].Operation
	if err := Sign(&forged, newKey(t, k256).priv); err != nil {
		t.Fatal(err)
	}
	c, _ := forged.CID()
	bad := append([]LogEntry(nil), log...)
	bad[60].Operation, bad[60].CID = forged, c.String()
	_, err = ValidateAuditLog(did, bad, ValidateOptions{Workers: 2, Keys: keys})
	var oe *OpError
	if !errors.As(err, &oe) || oe.Index != 60 || !errors.Is(err, ErrSigInvalid) {
		t.Fatalf("forged op: %v", err)
	}
	if keys.get(host.did).table.Load() == nil && keys.get(host.did).ptable.Load() == nil {
		t.Fatal("the host key never got a table")
	}
}
