//go:build interop

package interop

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/townhall-dev/townhall/plc"
)

// plcLog is one audit log built here, with Townhall's verdict on it.
type plcLog struct {
	Name    string         `json:"name"`
	DID     string         `json:"did"`
	Entries []plc.LogEntry `json:"entries"`
	// Data is Townhall's view of the DID's data after the log, nil when it
	// is tombstoned or the log is invalid.
	Data  *plc.Data `json:"data"`
	goErr error
}

type plcBuilder struct {
	t     *testing.T
	r     *rand.Rand
	keys  []testKey // rotation-capable keys: [rec1, rec2, host, ...]
	now   time.Time
	state *plc.AuditState
	did   string
}

func (b *plcBuilder) key() testKey { return newTestKey(b.t, b.r, b.r.IntN(2) == 0) }

func (b *plcBuilder) tick(max time.Duration) time.Time {
	b.now = b.now.Add(time.Millisecond * time.Duration(1+b.r.Int64N(max.Milliseconds())))
	return b.now
}

// genesis starts a community with recovery keys rec1, rec2 and host key.
func (b *plcBuilder) genesis() *plc.Op {
	t := b.t
	rec1, rec2, host := b.key(), newTestKey(b.t, b.r, false), b.key() // rec2 is P-256 (see "high-s")
	b.keys = []testKey{rec1, rec2, host}
	op, did, err := plc.NewGenesis(plc.GenesisOptions{
		RecoveryKeys:    []string{rec1.did, rec2.did},
		HostRotationKey: host.did,
		SigningKey:      b.key().did,
		Endpoint:        fmt.Sprintf("https://pds%d.example.com", b.r.IntN(1000)),
		Handle:          fmt.Sprintf("c%d.example.com", b.r.IntN(100000)),
	}, host.priv)
	if err != nil {
		t.Fatalf("NewGenesis: %v", err)
	}
	b.did = did
	b.state = plc.NewAuditState(did, plc.ValidateOptions{})
	if _, err := b.state.Apply(op, b.now); err != nil {
		t.Fatalf("apply genesis: %v", err)
	}
	return op
}

// signer returns the key of rotation key index i of the head, if we hold it.
func (b *plcBuilder) signer(i int) (testKey, bool) {
	head, _ := b.state.Head()
	if i >= len(head.RotationKeys) {
		return testKey{}, false
	}
	for _, k := range b.keys {
		if k.did == head.RotationKeys[i] {
			return k, true
		}
	}
	return testKey{}, false
}

// step applies one random valid operation. It returns false when it did
// nothing.
func (b *plcBuilder) step() bool {
	t := b.t
	head, _ := b.state.Head()
	switch b.r.IntN(4) {
	case 0, 1: // routine update, signed by a random rotation key we hold
		k, ok := b.signer(b.r.IntN(len(head.RotationKeys)))
		if !ok {
			return false
		}
		opts := plc.UpdateOptions{}
		switch b.r.IntN(3) {
		case 0:
			opts.AlsoKnownAs = []string{fmt.Sprintf("at://h%d.example.org", b.r.IntN(100000))}
		case 1:
			opts.VerificationMethods = map[string]string{"atproto": b.key().did}
		default:
			opts.Services = map[string]plc.Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: fmt.Sprintf("https://pds%d.example.net", b.r.IntN(1000))}}
		}
		op, err := plc.Update(b.state, opts, k.priv)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if _, err := b.state.Apply(op, b.tick(30*time.Hour)); err != nil {
			t.Fatalf("apply update: %v", err)
		}
	default: // a recovery fork undoing the latest operation within the window
		_, hostile := b.state.Head()
		hop, _, _, _ := b.state.Lookup(hostile)
		if hop.IsGenesis() {
			return false
		}
		k, ok := b.signer(0)
		if !ok {
			return false
		}
		newHost := b.key()
		b.keys = append(b.keys, newHost)
		op, _, err := plc.Nullify(b.state, plc.MoveOptions{NewSigningKey: b.key().did, NewEndpoint: "https://rescue.example.com", NewHostRotationKey: newHost.did,
			Hostile: hostile}, k.priv, b.tick(10*time.Hour))
		if err != nil {
			return false // e.g. the recovery key does not outrank the signer, or late
		}
		if _, err := b.state.Apply(op, b.now); err != nil {
			t.Fatalf("apply fork: %v", err)
		}
	}
	return true
}

// ensureHostile makes the head a routine update signed by the host key (the
// lowest-priority rotation key), so a recovery fork can undo it. It returns
// the head's CID and its createdAt.
func (b *plcBuilder) ensureHostile() (string, time.Time) {
	head, _ := b.state.Head()
	k, ok := b.signer(len(head.RotationKeys) - 1)
	if !ok {
		b.t.Fatalf("no host key")
	}
	op, err := plc.Update(b.state, plc.UpdateOptions{AlsoKnownAs: []string{"at://rogue.example.com"}}, k.priv)
	if err != nil {
		b.t.Fatalf("Update: %v", err)
	}
	res, err := b.state.Apply(op, b.tick(time.Hour))
	if err != nil {
		b.t.Fatalf("apply: %v", err)
	}
	return res.CID, res.CreatedAt
}

// appendOp returns the log with op appended at time at, flagging as
// nullified the entries listed.
func appendOp(t *testing.T, log []plc.LogEntry, did string, op *plc.Op, at time.Time, nullify ...string) []plc.LogEntry {
	c, err := op.CID()
	if err != nil {
		t.Fatalf("CID: %v", err)
	}
	out := slices.Clone(log)
	for i := range out {
		if slices.Contains(nullify, out[i].CID) {
			out[i].Nullified = true
		}
	}
	return append(out, plc.LogEntry{DID: did, Operation: *op, CID: c.String(), CreatedAt: plc.FormatTime(at)})
}

// invalidLog builds, from a valid non-tombstoned community, a log whose last
// operation breaks (or, for "fork-at-72h", just meets) one rule.
func (b *plcBuilder) invalidLog(kind string) *plcLog {
	t := b.t
	rec1, _ := b.signer(0)
	host, _ := b.signer(2)
	var entries []plc.LogEntry
	switch kind {
	case "fork-after-72h", "fork-at-72h", "fork-by-host":
		hostile, hostileAt := b.ensureHostile()
		newHost := b.key()
		opts := plc.MoveOptions{NewSigningKey: b.key().did, NewEndpoint: "https://rescue.example.com", NewHostRotationKey: newHost.did,
			Hostile: hostile}
		op, _, err := plc.Nullify(b.state, opts, rec1.priv, hostileAt.Add(time.Hour))
		if err != nil {
			t.Fatalf("Nullify: %v", err)
		}
		at := hostileAt.Add(time.Hour)
		switch kind {
		case "fork-after-72h":
			at = hostileAt.Add(plc.RecoveryWindow + time.Millisecond)
		case "fork-at-72h":
			at = hostileAt.Add(plc.RecoveryWindow)
		case "fork-by-host":
			// The host key signed the operation being undone: it does not
			// outrank itself.
			op.Sig = ""
			if err := plc.Sign(op, host.priv); err != nil {
				t.Fatalf("Sign: %v", err)
			}
		}
		entries = appendOp(t, b.state.Entries(), b.did, op, at, hostile)
	case "stranger-update":
		op, err := plc.Update(b.state, plc.UpdateOptions{AlsoKnownAs: []string{"at://stranger.example.com"}}, rec1.priv)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		op.Sig = ""
		if err := plc.Sign(op, b.key().priv); err != nil {
			t.Fatalf("Sign: %v", err)
		}
		entries = appendOp(t, b.state.Entries(), b.did, op, b.tick(time.Hour))
	case "after-tombstone":
		prevHead, _ := b.state.Head()
		op, err := plc.Tombstone(b.state, rec1.priv)
		if err != nil {
			t.Fatalf("Tombstone: %v", err)
		}
		res, err := b.state.Apply(op, b.tick(time.Hour))
		if err != nil {
			t.Fatalf("apply tombstone: %v", err)
		}
		next := *prevHead
		next.Prev, next.Sig = res.CID, ""
		if err := plc.Sign(&next, rec1.priv); err != nil {
			t.Fatalf("Sign: %v", err)
		}
		entries = appendOp(t, b.state.Entries(), b.did, &next, b.tick(time.Hour))
	case "unknown-prev":
		op, err := plc.Update(b.state, plc.UpdateOptions{AlsoKnownAs: []string{"at://lost.example.com"}}, rec1.priv)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		op.Prev = drislCIDString(b.r)
		op.Sig = ""
		if err := plc.Sign(op, rec1.priv); err != nil {
			t.Fatalf("Sign: %v", err)
		}
		entries = appendOp(t, b.state.Entries(), b.did, op, b.tick(time.Hour))
	case "high-s":
		// rec2 (P-256) signs; the signature is then turned into its
		// high-S twin (s -> n - s), which verifies mathematically.
		rec2, _ := b.signer(1)
		op, err := plc.Update(b.state, plc.UpdateOptions{AlsoKnownAs: []string{"at://high-s.example.com"}}, rec2.priv)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		op.Sig = highS(t, op.Sig)
		entries = appendOp(t, b.state.Entries(), b.did, op, b.tick(time.Hour))
	case "bad-signature":
		op, err := plc.Update(b.state, plc.UpdateOptions{AlsoKnownAs: []string{"at://forged.example.com"}}, rec1.priv)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		op.AlsoKnownAs = []string{"at://tampered.example.com"} // after signing
		entries = appendOp(t, b.state.Entries(), b.did, op, b.tick(time.Hour))
	default:
		t.Fatalf("unknown kind %s", kind)
	}
	return &plcLog{Name: kind, DID: b.did, Entries: entries}
}

var plcInvalidKinds = []string{"fork-after-72h", "fork-at-72h", "fork-by-host", "stranger-update", "after-tombstone", "unknown-prev", "bad-signature", "high-s"}

// plcExceptions are the documented exceptions of the family (README.md):
// the verdicts (Townhall, @did-plc/lib) they assert.
var plcExceptions = map[string][2]bool{
	"high-s": {false, true},
}

// highS returns the high-S twin of a base64url raw P-256 signature.
func highS(t *testing.T, sig string) string {
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		t.Fatalf("signature %q: %v", sig, err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(raw[32:])
	s.Sub(n, s)
	out := append([]byte{}, raw[:32]...)
	out = append(out, s.FillBytes(make([]byte, 32))...)
	return base64.RawURLEncoding.EncodeToString(out)
}

func drislCIDString(r *rand.Rand) string { return drislGen{r: r}.cid().String() }

func TestPLC(t *testing.T) {
	t.Parallel() // each family runs its own node process
	r := rng("plc")
	var logs []*plcLog
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(300 * 24 * time.Hour))))
	for i := range 32 {
		b := &plcBuilder{t: t, r: r, now: base.Add(time.Duration(i) * 1000 * time.Hour)}
		b.genesis()
		for range r.IntN(8) {
			b.step()
		}
		name := "valid"
		if i%2 == 1 {
			kind := plcInvalidKinds[(i/2)%len(plcInvalidKinds)]
			logs = append(logs, b.invalidLog(kind))
			continue
		}
		if r.IntN(4) == 0 {
			k, _ := b.signer(0)
			op, err := plc.Tombstone(b.state, k.priv)
			if err != nil {
				t.Fatalf("Tombstone: %v", err)
			}
			if _, err := b.state.Apply(op, b.tick(time.Hour)); err != nil {
				t.Fatalf("apply tombstone: %v", err)
			}
			name = "tombstoned"
		}
		logs = append(logs, &plcLog{Name: name, DID: b.did, Entries: b.state.Entries()})
	}
	for _, l := range logs {
		s, err := plc.ValidateAuditLog(l.DID, l.Entries, plc.ValidateOptions{})
		l.goErr = err
		if err == nil {
			l.Data = s.Data()
		}
	}
	req := struct {
		Logs []*plcLog `json:"logs"`
	}{logs}
	var ans struct {
		Results []struct {
			Valid     bool      `json:"valid"`
			Error     string    `json:"error"`
			DID       string    `json:"did"`
			CIDs      []string  `json:"cids"`
			Nullified []string  `json:"nullified"`
			Data      *plc.Data `json:"data"`
		} `json:"results"`
	}
	callNode(t, "plc", req, &ans)
	if len(ans.Results) != len(logs) {
		t.Fatalf("node answered %d results for %d logs", len(ans.Results), len(logs))
	}
	f := newFailures(t)
	stats := map[string]int{}
	for i, l := range logs {
		res := ans.Results[i]
		ours := l.goErr == nil
		stats[fmt.Sprintf("%s: valid=%v", l.Name, ours)]++
		for _, e := range l.Entries {
			if e.Nullified {
				stats["nullified operations"]++
			}
		}
		if want, ok := plcExceptions[l.Name]; ok {
			if ours != want[0] || res.Valid != want[1] {
				f.add("exception "+l.Name+" no longer holds", "log %d: want townhall valid=%v, reference valid=%v; got %v (%v), %v (%s)", i, want[0], want[1], ours, l.goErr, res.Valid, res.Error)
			}
			continue
		}
		if ours != res.Valid {
			f.add("verdicts differ", "log %d (%s, %s): townhall valid=%v (%v), @did-plc/lib valid=%v (%s)", i, l.Name, l.DID, ours, l.goErr, res.Valid, res.Error)
			continue
		}
		if res.DID != l.DID {
			f.add("genesis DID differs", "log %d: ours %s, theirs %s", i, l.DID, res.DID)
		}
		var cids, nullified []string
		for _, e := range l.Entries {
			cids = append(cids, e.CID)
			if e.Nullified {
				nullified = append(nullified, e.CID)
			}
		}
		if !slices.Equal(cids, res.CIDs) {
			f.add("operation CIDs differ", "log %d: ours %v, theirs %v", i, cids, res.CIDs)
		}
		if !ours {
			continue
		}
		slices.Sort(nullified)
		slices.Sort(res.Nullified)
		if !slices.Equal(nullified, res.Nullified) {
			f.add("nullified operations differ", "log %d: ours %v, theirs %v", i, nullified, res.Nullified)
		}
		if d := diffData(l.Data, res.Data); d != "" {
			f.add("DID data differs", "log %d: %s", i, d)
		}
	}
	f.done()
	t.Logf("%d logs: %v", len(logs), stats)
}

func diffData(a, b *plc.Data) string {
	switch {
	case a == nil && b == nil:
		return ""
	case a == nil || b == nil:
		return fmt.Sprintf("ours %+v, theirs %+v", a, b)
	}
	if a.DID != b.DID || !slices.Equal(a.RotationKeys, b.RotationKeys) || !slices.Equal(a.AlsoKnownAs, b.AlsoKnownAs) || fmt.Sprint(a.VerificationMethods) != fmt.Sprint(b.VerificationMethods) || fmt.Sprint(a.Services) != fmt.Sprint(b.Services) {
		return fmt.Sprintf("ours %+v, theirs %+v", a, b)
	}
	return ""
}

// TestPLCFromReference validates, here, logs that @did-plc/lib wrote.
func TestPLCFromReference(t *testing.T) {
	t.Parallel() // each family runs its own node process
	r := rng("plc-from-reference")
	type keySpec struct {
		K256 bool   `json:"k256"`
		Priv []byte `json:"priv"`
	}
	type step struct {
		Kind  string `json:"kind"`
		Value string `json:"value,omitempty"`
	}
	type spec struct {
		Keys   []keySpec `json:"keys"` // recovery, host, signing
		Handle string    `json:"handle"`
		PDS    string    `json:"pds"`
		Steps  []step    `json:"steps"`
	}
	var specs []spec
	for range 8 {
		var sp spec
		for range 3 {
			k := newTestKey(t, r, r.IntN(2) == 0)
			sp.Keys = append(sp.Keys, keySpec{K256: k.k256, Priv: k.priv.Bytes()})
		}
		sp.Handle = fmt.Sprintf("t%d.example.com", r.IntN(100000))
		sp.PDS = fmt.Sprintf("https://pds%d.example.com", r.IntN(1000))
		for range r.IntN(4) {
			switch r.IntN(3) {
			case 0:
				sp.Steps = append(sp.Steps, step{"handle", fmt.Sprintf("u%d.example.org", r.IntN(100000))})
			case 1:
				sp.Steps = append(sp.Steps, step{"pds", fmt.Sprintf("https://p%d.example.net", r.IntN(1000))})
			default:
				sp.Steps = append(sp.Steps, step{"atprotoKey", newTestKey(t, r, true).did})
			}
		}
		if r.IntN(4) == 0 {
			sp.Steps = append(sp.Steps, step{Kind: "tombstone"})
		}
		specs = append(specs, sp)
	}
	var ans struct {
		Made []struct {
			DID  string            `json:"did"`
			Ops  []json.RawMessage `json:"ops"`
			CIDs []string          `json:"cids"`
			Data *plc.Data         `json:"data"`
		} `json:"made"`
	}
	callNode(t, "plc", map[string]any{"make": specs}, &ans)
	if len(ans.Made) != len(specs) {
		t.Fatalf("node made %d logs for %d specs", len(ans.Made), len(specs))
	}
	f := newFailures(t)
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(100 * 24 * time.Hour))))
	for i, m := range ans.Made {
		var log []plc.LogEntry
		for j, raw := range m.Ops {
			op, err := plc.ParseOp(raw)
			if err != nil {
				f.add("plc.ParseOp rejects the reference's operation", "log %d op %d %s: %v", i, j, raw, err)
				break
			}
			c, err := op.CID()
			if err != nil || c.String() != m.CIDs[j] {
				f.add("operation CID differs", "log %d op %d: ours %v (%v), theirs %s", i, j, c, err, m.CIDs[j])
			}
			if j == 0 {
				if did, err := op.DID(); err != nil || did != m.DID {
					f.add("genesis DID differs", "log %d: ours %s (%v), theirs %s", i, did, err, m.DID)
				}
			}
			at = at.Add(time.Duration(1+r.IntN(1000)) * time.Minute)
			log = append(log, plc.LogEntry{DID: m.DID, Operation: *op, CID: m.CIDs[j], CreatedAt: plc.FormatTime(at)})
		}
		if len(log) != len(m.Ops) {
			continue
		}
		s, err := plc.ValidateAuditLog(m.DID, log, plc.ValidateOptions{})
		if err != nil {
			f.add("plc.ValidateAuditLog rejects the reference's log", "log %d (%d ops): %v", i, len(log), err)
			continue
		}
		if d := diffData(s.Data(), m.Data); d != "" {
			f.add("DID data differs", "log %d: %s", i, d)
		}
	}
	f.done()
	t.Logf("%d logs written by @did-plc/lib", len(specs))
}
