package ucan

import (
	"context"
	"reflect"
	"testing"

	"github.com/townhall-dev/townhall/drisl"
)

// TestOrderedArgs: a validator with OrderedArgs gives an invocation whose
// Args and Meta are map[string]any holding drisl.Maps where the default
// holds map[string]any, the same data otherwise, and the same verdicts:
// a policy over the fields of nested maps (a batch of writes) holds or
// fails alike.
func TestOrderedArgs(t *testing.T) {
	ctx := context.Background()
	pol, err := ParsePolicy([]any{[]any{"all", ".writes", []any{"and", []any{
		[]any{"==", ".collection", "app.bsky.feed.post"}, []any{"like", ".rkey", "3l*"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, Ed25519, 0, "/")
	w.signer = append(w.signer, newSigner(t, Ed25519))
	w.delegate(0, DelegationFields{Command: "/repo", Policy: pol, NoExpiration: true})
	write := func(coll, rkey string) any {
		return map[string]any{"collection": coll, "rkey": rkey, "extra": map[string]any{"n": int64(1), "l": []any{map[string]any{"x": "y"}}}}
	}
	for _, tc := range []struct {
		name string
		args map[string]any
		ok   bool
	}{
		{"policy holds", map[string]any{"writes": []any{write("app.bsky.feed.post", "3labc"), write("app.bsky.feed.post", "3ldef")}}, true},
		{"a collection outside it", map[string]any{"writes": []any{write("app.bsky.feed.post", "3labc"), write("app.bsky.feed.like", "3ldef")}}, false},
		{"an rkey outside it", map[string]any{"writes": []any{write("app.bsky.feed.post", "xyz")}}, false},
	} {
		inv, err := NewInvocation(w.invoker(), InvocationFields{Subject: w.signer[0].DID(), Command: "/repo/batch",
			Args: tc.args, Proofs: w.proofs(), Meta: map[string]any{"m": map[string]any{"k": "v"}}, Expiration: t0.Add(60e9)})
		if err != nil {
			t.Fatal(err)
		}
		plain, perr := w.validator(ValidatorOptions{}).Validate(ctx, inv.Bytes())
		ord, oerr := w.validator(ValidatorOptions{OrderedArgs: true}).Validate(ctx, inv.Bytes())
		if (perr == nil) != tc.ok || (oerr == nil) != tc.ok || perr != nil && perr.Error() != oerr.Error() {
			t.Fatalf("%s: default %v, ordered %v; want ok %v", tc.name, perr, oerr, tc.ok)
		}
		if !tc.ok {
			continue
		}
		if _, ok := ord.Args["writes"].([]any)[0].(drisl.Map); !ok {
			t.Fatalf("%s: ordered write is %T", tc.name, ord.Args["writes"].([]any)[0])
		}
		if _, ok := plain.Args["writes"].([]any)[0].(map[string]any); !ok {
			t.Fatalf("%s: default write is %T", tc.name, plain.Args["writes"].([]any)[0])
		}
		if _, ok := ord.Meta["m"].(drisl.Map); !ok {
			t.Fatalf("%s: ordered meta value is %T", tc.name, ord.Meta["m"])
		}
		// The same data, maps in the same (DRISL) order (ordered:
		// policy_test.go).
		if !reflect.DeepEqual(ordered(ord.Args), ordered(plain.Args)) || !reflect.DeepEqual(ordered(ord.Meta), ordered(plain.Meta)) {
			t.Fatalf("%s: ordered args %#v, default %#v", tc.name, ord.Args, plain.Args)
		}
		if ord.CID() != plain.CID() || ord.Command != plain.Command || ord.Issuer != plain.Issuer {
			t.Fatalf("%s: the invocations differ beyond their args", tc.name)
		}
	}
}

// TestSelectOne: selectOne, the inline path for a one-field selector,
// selects what selectPath selects, with the same verdict and step count,
// from maps of both models, lists, strings and null, for plain and
// optional fields; other selectors go to selectPath.
func TestSelectOne(t *testing.T) {
	values := []any{
		map[string]any{"a": "x", "b": nil}, drisl.Map{{Key: "a", Value: "x"}, {Key: "b", Value: nil}},
		map[string]any{}, drisl.Map{}, []any{"a"}, "a", nil, int64(1),
	}
	for _, src := range []string{".a", ".b", ".c", ".a?", ".c?", ".", ".[0]", ".a.b"} {
		sel, err := ParseSelector(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			one, path := &evalState{max: 100}, &evalState{max: 100}
			x, ok := one.selectOne(sel.segs, v)
			y, ok2 := path.selectPath(sel.segs, v)
			if ok != ok2 || !reflect.DeepEqual(x, y) || one.steps != path.steps {
				t.Errorf("%s on %#v: selectOne %#v %v (%d steps), selectPath %#v %v (%d steps)", src, v, x, ok, one.steps, y, ok2, path.steps)
			}
		}
	}
}
