package drisl

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// daslFixture is one test case of hyphacoop/dasl-testing (fixtures/cbor).
type daslFixture struct {
	Type string   `json:"type"` // roundtrip, invalid_in or invalid_out
	Data string   `json:"data"` // hex
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	Desc string   `json:"desc"`
	file string
}

func loadDASL(t *testing.T) []daslFixture {
	t.Helper()
	files, err := filepath.Glob("testdata/dasl/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dasl fixtures: %v", err)
	}
	var all []daslFixture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fs []daslFixture
		if err := json.Unmarshal(b, &fs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range fs {
			fs[i].file = filepath.Base(f)
		}
		all = append(all, fs...)
	}
	return all
}

// inDRISLProfile reports whether a fixture states a DRISL rule: the tags
// basic, dag-cbor and dasl-cid do; rfc8949, CBOR-Core, CDE and dCBOR alone
// describe other profiles.
func inDRISLProfile(f daslFixture) bool {
	return slices.Contains(f.Tags, "basic") || slices.Contains(f.Tags, "dag-cbor") || slices.Contains(f.Tags, "dasl-cid")
}

// daslRejectRule is the rule each DRISL-profile invalid_in fixture breaks,
// with the offset of the offending head.
var daslRejectRule = map[string]struct {
	rule Rule
	off  int
}{
	"long CID tag":                            {RuleNonShortest, 0},
	"invalid CID":                             {RuleCID, 0},
	"CIDv0":                                   {RuleCID, 0},
	"invalid hash size":                       {RuleCID, 0},
	"empty CID":                               {RuleCID, 0},
	"short hash digest":                       {RuleCID, 0},
	"long hash digest":                        {RuleCID, 0},
	"CIDv1 that isn't raw or cbor":            {RuleCID, 0},
	"disallowed hash type (SHA-1)":            {RuleCID, 0},
	"CID with no null byte":                   {RuleCID, 0},
	"concatenated objects / CBOR sequence":    {RuleTrailingBytes, 1},
	"64-bit floats only":                      {RuleFloatWidth, 0},
	"long NaN":                                {RuleFloatValue, 0},
	"negative zero float64":                   {RuleFloatValue, 0},
	"short NaN":                               {RuleFloatWidth, 0},
	"short Inf":                               {RuleFloatWidth, 0},
	"32-bit Inf":                              {RuleFloatWidth, 0},
	"64-bit Inf":                              {RuleFloatValue, 0},
	"short -Inf":                              {RuleFloatWidth, 0},
	"32-bit -Inf":                             {RuleFloatWidth, 0},
	"64-bit -Inf":                             {RuleFloatValue, 0},
	"signaling NaN":                           {RuleFloatWidth, 0},
	"indefinite map":                          {RuleIndefinite, 0},
	"indefinite array":                        {RuleIndefinite, 0},
	"indefinite byte string":                  {RuleIndefinite, 0},
	"indefinite string":                       {RuleIndefinite, 0},
	"bignum":                                  {RuleTag, 0},
	"bignum with small value":                 {RuleTag, 0},
	"map with int key":                        {RuleMapKeyType, 1},
	"map keys in incorrect order":             {RuleMapKeyOrder, 4},
	"duplicate map keys":                      {RuleMapKeyDuplicate, 4},
	"unnecessary one-byte map definition":     {RuleNonShortest, 0},
	"unnecessary two-byte map definition":     {RuleNonShortest, 0},
	"unnecessary four-byte map definition":    {RuleNonShortest, 0},
	"unnecessary eight-byte map definition":   {RuleNonShortest, 0},
	"unnecessary one-byte unsigned integer":   {RuleNonShortest, 0},
	"unnecessary two-byte unsigned integer":   {RuleNonShortest, 0},
	"unnecessary four-byte unsigned integer":  {RuleNonShortest, 0},
	"unnecessary eight-byte unsigned integer": {RuleNonShortest, 0},
	"unnecessary one-byte negative integer":   {RuleNonShortest, 0},
	"unnecessary two-byte negative integer":   {RuleNonShortest, 0},
	"unnecessary four-byte negative integer":  {RuleNonShortest, 0},
	"unnecessary eight-byte negative integer": {RuleNonShortest, 0},
	"unnecessary one-byte byte string":        {RuleNonShortest, 0},
	"unnecessary two-byte byte string":        {RuleNonShortest, 0},
	"unnecessary four-byte byte string":       {RuleNonShortest, 0},
	"unnecessary eight-byte byte string":      {RuleNonShortest, 0},
	"unnecessary one-byte string":             {RuleNonShortest, 0},
	"unnecessary two-byte string":             {RuleNonShortest, 0},
	"unnecessary four-byte string":            {RuleNonShortest, 0},
	"unnecessary eight-byte string":           {RuleNonShortest, 0},
	"unnecessary one-byte array":              {RuleNonShortest, 0},
	"unnecessary two-byte array":              {RuleNonShortest, 0},
	"unnecessary four-byte array":             {RuleNonShortest, 0},
	"unnecessary eight-byte array":            {RuleNonShortest, 0},
	"simple value 'undefined'":                {RuleSimple, 0},
	"unassigned simple value":                 {RuleSimple, 0},
	"tag that isn't 42":                       {RuleTag, 0},
	"self-describing CBOR":                    {RuleTag, 0},
	"invalid UTF-8":                           {RuleUTF8, 0},
}

// outOfProfile lists what DRISL says about the fixtures that only state
// another profile's rule (rfc8949 preferred serialisation, CBOR-Core, dCBOR
// numeric reduction and NFC). DRISL disagrees with several of them on
// purpose: it has 64-bit floats only, no tags but 42, string keys only, and
// no Unicode normalisation rule. The key is type + "/" + name + "/" + data.
var outOfProfile = map[string]struct {
	rule Rule // "" means DRISL accepts and roundtrips it
	off  int
}{
	"roundtrip/float reduction/f93e00":                                   {RuleFloatWidth, 0},
	"invalid_in/float reduction/fb3ff8000000000000":                      {"", 0},
	"roundtrip/short NaN/f97e00":                                         {RuleFloatWidth, 0},
	"roundtrip/zero float16/f90000":                                      {RuleFloatWidth, 0},
	"invalid_in/NaN with payload/f97e01":                                 {RuleFloatWidth, 0},
	"roundtrip/smallest unsigned bigint/c249010000000000000000":          {RuleTag, 0},
	"roundtrip/highest negative bigint/c349010000000000000000":           {RuleTag, 0},
	"invalid_in/0.0 could be reduced/f90000":                             {RuleFloatWidth, 0},
	"invalid_in/-0.0 could be reduced/f98000":                            {RuleFloatWidth, 0},
	"roundtrip/map with equal int and float keys/a20a00f9490000":         {RuleMapKeyType, 1},
	"roundtrip/too small for int reduction, <-(2^63)/fbc3e0000000000001": {"", 0},
	"invalid_in/bigint with leading zero bytes/c34a00010000000000000000": {RuleTag, 0},
	"invalid_in/text not in Unicode Normalization Form C/6365cc81":       {"", 0},
}

// bigDASLCID is the one DRISL-profile fixture that needs an option: its CID
// uses a BLAKE3 multihash, which DASL allows and atproto does not, so the
// default decoder rejects it and DecOptions{AllowBLAKE3: true} roundtrips it.
const bigDASLCID = "Big DASL CID"

func TestDASLFixtures(t *testing.T) {
	fixtures := loadDASL(t)
	if len(fixtures) != 105 {
		t.Fatalf("got %d dasl fixtures, want 105", len(fixtures))
	}
	var inProfile, passed, outside int
	for _, f := range fixtures {
		data, err := hex.DecodeString(f.Data)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if !inDRISLProfile(f) {
			outside++
			key := f.Type + "/" + f.Name + "/" + f.Data
			want, ok := outOfProfile[key]
			if !ok {
				t.Errorf("out-of-profile fixture %q has no documented DRISL verdict", key)
				continue
			}
			if want.rule == "" {
				checkRoundtrip(t, f, data, DecOptions{})
			} else {
				checkReject(t, f, data, DecOptions{}, want.rule, want.off)
			}
			continue
		}
		inProfile++
		ok := true
		switch f.Type {
		case "roundtrip":
			opts := DecOptions{}
			if f.Name == bigDASLCID {
				checkReject(t, f, data, DecOptions{}, RuleCID, 0)
				opts.AllowBLAKE3 = true
			}
			ok = checkRoundtrip(t, f, data, opts)
		case "invalid_in":
			want, found := daslRejectRule[f.Name]
			if !found {
				t.Errorf("%s %q: no expected rule", f.file, f.Name)
				ok = false
				break
			}
			ok = checkReject(t, f, data, DecOptions{}, want.rule, want.off)
		case "invalid_out":
			ok = checkEncodeFails(t, f, data)
		default:
			t.Errorf("%q: unknown fixture type %q", f.Name, f.Type)
			ok = false
		}
		if ok {
			passed++
		}
	}
	if inProfile != 92 || outside != 13 {
		t.Errorf("profile split %d/%d, want 92/13", inProfile, outside)
	}
	if passed != inProfile {
		t.Errorf("passed %d of %d DRISL-profile fixtures", passed, inProfile)
	}
	t.Logf("DRISL-profile fixtures passed: %d of %d; out-of-profile checked: %d", passed, inProfile, outside)
}

// checkRoundtrip checks that data validates, decodes and re-encodes to
// identical bytes, in both generic models (map[string]any and Map), and
// that the two models hold the same value.
func checkRoundtrip(t *testing.T, f daslFixture, data []byte, opts DecOptions) bool {
	t.Helper()
	if err := opts.Validate(data); err != nil {
		t.Errorf("%s %q: Validate: %v", f.file, f.Name, err)
		return false
	}
	var def any
	for _, ordered := range []bool{false, true} {
		opts.OrderedMaps = ordered
		var v any
		if err := opts.Unmarshal(data, &v); err != nil {
			t.Errorf("%s %q: Unmarshal (OrderedMaps %v): %v", f.file, f.Name, ordered, err)
			return false
		}
		if !ordered {
			def = v
		} else if !reflect.DeepEqual(v, toOrdered(def)) {
			t.Errorf("%s %q: the ordered model holds %#v, the default %#v", f.file, f.Name, v, def)
			return false
		}
		out, err := EncOptions{AllowBLAKE3: opts.AllowBLAKE3}.Marshal(v)
		if err != nil {
			t.Errorf("%s %q: Marshal(%#v): %v", f.file, f.Name, v, err)
			return false
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s %q: roundtrip (OrderedMaps %v) %x, want %x", f.file, f.Name, ordered, out, data)
			return false
		}
	}
	if data[0]>>5 == 5 {
		var m Map
		if err := opts.Unmarshal(data, &m); err != nil {
			t.Errorf("%s %q: Unmarshal into Map: %v", f.file, f.Name, err)
			return false
		}
		if out, err := (EncOptions{AllowBLAKE3: opts.AllowBLAKE3}).Marshal(m); err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s %q: Map roundtrip %x (%v), want %x", f.file, f.Name, out, err, data)
			return false
		}
	}
	var r Raw
	if err := opts.Unmarshal(data, &r); err != nil || !bytes.Equal(r, data) {
		t.Errorf("%s %q: Unmarshal into Raw: %x, %v", f.file, f.Name, r, err)
		return false
	}
	return true
}

// checkReject checks that every decoder refuses data for rule at off: the
// validator, both generic models, Raw, and Map for a map.
func checkReject(t *testing.T, f daslFixture, data []byte, opts DecOptions, rule Rule, off int) bool {
	t.Helper()
	ok := true
	ordered := opts
	ordered.OrderedMaps = true
	steps := []struct {
		name string
		err  error
	}{
		{"Validate", opts.Validate(data)},
		{"Unmarshal", opts.Unmarshal(data, new(any))},
		{"Unmarshal with OrderedMaps", ordered.Unmarshal(data, new(any))},
		{"Unmarshal into Raw", opts.Unmarshal(data, new(Raw))},
	}
	if len(data) > 0 && data[0]>>5 == 5 {
		steps = append(steps, struct {
			name string
			err  error
		}{"Unmarshal into Map", opts.Unmarshal(data, new(Map))})
	}
	for _, step := range steps {
		var se *SyntaxError
		if !errors.As(step.err, &se) {
			t.Errorf("%s %q: %s gave %v, want a *SyntaxError", f.file, f.Name, step.name, step.err)
			ok = false
			continue
		}
		if se.Rule != rule || se.Offset != off {
			t.Errorf("%s %q: %s: rule %q at %d, want %q at %d", f.file, f.Name, step.name, se.Rule, se.Offset, rule, off)
			ok = false
		}
		if !errors.Is(step.err, ErrInvalid) {
			t.Errorf("%s %q: error does not wrap ErrInvalid", f.file, f.Name)
			ok = false
		}
	}
	return ok
}

// checkEncodeFails builds the Go value an invalid_out fixture describes and
// checks Marshal refuses it. The value comes from fxamacker/cbor's lenient
// default decoder (a test-only oracle): NaN and infinities as float64,
// bignums as big.Int, an integer-keyed map as map[any]any, a datetime tag as
// time.Time, simple values as cbor.SimpleValue. fxamacker turns 'undefined'
// into nil, so that one is decoded into a cbor.SimpleValue instead.
func checkEncodeFails(t *testing.T, f daslFixture, data []byte) bool {
	t.Helper()
	var v any
	if err := cbor.Unmarshal(data, &v); err != nil {
		t.Errorf("%s %q: oracle cannot build the value: %v", f.file, f.Name, err)
		return false
	}
	if v == nil && data[0] == 0xf7 {
		var sv cbor.SimpleValue
		if err := cbor.Unmarshal(data, &sv); err != nil {
			t.Errorf("%s %q: %v", f.file, f.Name, err)
			return false
		}
		v = sv
	}
	out, err := Marshal(v)
	if err == nil {
		t.Errorf("%s %q: Marshal(%#v) = %x, want an error", f.file, f.Name, v, out)
		return false
	}
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("%s %q: Marshal error %v does not wrap ErrUnsupported", f.file, f.Name, err)
		return false
	}
	return true
}
