package community

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/townhall-dev/townhall/drisl"
	"github.com/townhall-dev/townhall/repo"
	"github.com/townhall-dev/townhall/ucan"
)

// TestParseWriteKeys: a write's arguments are exactly collection, rkey,
// cid and audience, plus action in a batch; any other key is refused
// with ErrBadRequest naming it.
func TestParseWriteKeys(t *testing.T) {
	c := drisl.SumCID(drisl.CodecDagCBOR, []byte{0xa0})
	base := func() map[string]any {
		return map[string]any{"collection": NSIDMessage, "rkey": "3kabcdefghij2", "cid": c}
	}
	if _, err := parseWrite(base(), repo.ActionCreate, -1, nil, ""); err != nil {
		t.Fatalf("a plain create: %v", err)
	}
	withAudience := base()
	withAudience["audience"] = "staff"
	if w, err := parseWrite(withAudience, repo.ActionCreate, -1, nil, ""); err != nil || w.audience != "staff" {
		t.Fatalf("a create with an audience: %+v %v", w, err)
	}
	inBatch := base()
	inBatch["action"] = "create"
	if w, err := parseWrite(inBatch, "", 0, &batchShared{}, ""); err != nil || w.action != repo.ActionCreate {
		t.Fatalf("a batch write with its action: %+v %v", w, err)
	}
	for name, tc := range map[string]struct {
		key     string
		inBatch bool
	}{
		"action outside a batch": {"action", false},
		"unknown key":            {"text", false},
		"unknown key in a batch": {"record", true},
		"empty key":              {"", true},
	} {
		m := base()
		if tc.inBatch {
			m["action"] = "create"
		}
		m[tc.key] = "x"
		var batch *batchShared
		if tc.inBatch {
			batch = &batchShared{}
		}
		_, err := parseWrite(m, repo.ActionCreate, -1, batch, "")
		var e *Error
		if !errors.Is(err, ErrBadRequest) || !errors.As(err, &e) || e.Detail != "unexpected argument \""+tc.key+"\"" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseWriteOrdered: a write given as a drisl.Map (a validator with
// ucan.ValidatorOptions.OrderedArgs decodes a batch's writes so) parses
// as the map[string]any of the same entries does: the same write, or the
// same error, for valid writes of each action and for each fault.
func TestParseWriteOrdered(t *testing.T) {
	c := drisl.SumCID(drisl.CodecDagCBOR, []byte{0xa0})
	cc := c
	write := func(kv ...any) map[string]any {
		m := map[string]any{"action": "create", "collection": NSIDMessage, "rkey": "3kabcdefghij2", "cid": c}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for name, m := range map[string]map[string]any{
		"create":                write(),
		"update with audience":  write("action", "update", "audience", "staff"),
		"delete":                write("action", "delete", "cid", nil),
		"cid pointer":           write("cid", &cc),
		"unexpected key":        write("text", "x"),
		"missing action":        write("action", nil),
		"bad action":            write("action", "put"),
		"action not a string":   write("action", int64(1)),
		"missing collection":    write("collection", nil),
		"bad collection":        write("collection", "not an nsid"),
		"missing rkey":          write("rkey", nil),
		"bad rkey":              write("rkey", "a/b"),
		"audience not a string": write("audience", []byte{1}),
		"delete with a cid":     write("action", "delete"),
		"missing cid":           write("cid", nil),
		"cid not a link":        write("cid", "bafy"),
	} {
		var om drisl.Map
		for k, v := range m {
			om = append(om, drisl.Entry{Key: k, Value: v})
		}
		om.Sort()
		want, werr := parseWrite(m, "", 3, &batchShared{}, "")
		got, err := parseWrite(om, "", 3, &batchShared{}, "")
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() || got != want {
			t.Errorf("%s: ordered %+v %v, map %+v %v", name, got, err, want, werr)
		}
	}
	var e *Error
	if _, err := parseWrite([]any{}, "", 3, &batchShared{}, ""); !errors.As(err, &e) || e.Index != 3 || e.Detail != "write is not a map" {
		t.Errorf("a list as a write: %v", err)
	}
}

// acceptAll is a replay guard that records nothing, so that a benchmark
// can validate one invocation many times.
type acceptAll struct{}

func (acceptAll) Record(context.Context, cid.Cid, time.Time) error { return nil }

// BenchmarkInvokeChecks does what Invoke does for a /repo/batch of 256
// chat messages (the import example's) before the request reaches the
// writer: the invocation validated with its chain (a member's grant, whose
// policy allows the collection and audience of every write), the member
// bound, then writeOps (arguments, records, receipt, invocation record).
// The community's validator is replaced by one with the community's
// options but a replay guard that accepts every invocation again; in
// "ordered" it also decodes the writes as drisl.Map
// (ucan.ValidatorOptions.OrderedArgs), in "maps" as map[string]any.
func BenchmarkInvokeChecks(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b)
	h := w.newHost(memHost, "host")
	h.limits.MaxBatchWrites = 256 // as the import example raises it
	c, founder := w.newCommunity(h, "")
	alice := w.join(c, "alice", founder, testRoles[0])
	req := w.rq(alice.sess.Batch(checkWrites(256)))
	for _, ordered := range []bool{false, true} {
		name := "maps"
		if ordered {
			name = "ordered"
		}
		b.Run(name, func(b *testing.B) {
			c.validator = ucan.NewValidator(ucan.ValidatorOptions{Executor: c.did, Subject: c.did, Resolver: communityResolver{c},
				Proofs: c.proofs, Revocations: c.revoked, Replay: acceptAll{}, Now: h.opts.Now, OrderedArgs: ordered})
			// The invoker's key gets its table after 32 validations, as
			// the import's importer does early on: measure after that.
			for range 40 {
				if _, _, err := c.authorize(ctx, req.Invocation, req.Proofs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				inv, member, err := c.authorize(ctx, req.Invocation, req.Proofs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.writeOps(ctx, inv, member, req.Records); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
