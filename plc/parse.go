package plc

import (
	"bytes"
	"encoding/json"

	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/townhall-dev/townhall/drisl"
)

// ParseOp parses one operation from JSON, strictly: the input must be one
// JSON object of at most MaxOpJSONBytes bytes with exactly the fields of its
// type (no unknown, duplicate or missing fields, no wrong JSON types), and its
// sig must be strict unpadded base64url of a 64-byte raw r||s signature.
// Errors are *FieldError values wrapping a sentinel (ErrUnknownField,
// ErrSigPadding, ...).
func ParseOp(data []byte) (*Op, error) {
	if len(data) > MaxOpJSONBytes {
		return nil, fieldErr("", ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", len(data), MaxOpJSONBytes))
	}
	op, err := parseOpFields(data)
	if err != nil {
		return nil, err
	}
	if _, err := decodeSig(op.Sig); err != nil {
		return nil, err
	}
	return op, nil
}

// UnmarshalJSON parses op with ParseOp's structural rules, but leaves the
// sig string unchecked, so that an audit log holding a badly signed operation
// can still be read and ValidateAuditLog can say which one it is.
func (op *Op) UnmarshalJSON(data []byte) error {
	if len(data) > MaxOpJSONBytes {
		return fieldErr("", ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", len(data), MaxOpJSONBytes))
	}
	p, err := parseOpFields(data)
	if err != nil {
		return err
	}
	*op = *p
	return nil
}

// Field presence bits.
const (
	fType = 1 << iota
	fRotationKeys
	fVerificationMethods
	fAlsoKnownAs
	fServices
	fPrev
	fSig
	fSigningKey
	fRecoveryKey
	fHandle
	fService
)

var fieldBits = map[string]int{
	"type": fType, "rotationKeys": fRotationKeys, "verificationMethods": fVerificationMethods,
	"alsoKnownAs": fAlsoKnownAs, "services": fServices, "prev": fPrev, "sig": fSig,
	"signingKey": fSigningKey, "recoveryKey": fRecoveryKey, "handle": fHandle, "service": fService,
}

var fieldNames = []string{"type", "rotationKeys", "verificationMethods", "alsoKnownAs", "services", "prev", "sig", "signingKey", "recoveryKey", "handle", "service"}

type jsonReader struct {
	dec *json.Decoder
}

func (r *jsonReader) token(field string) (json.Token, error) {
	t, err := r.dec.Token()
	if err != nil {
		return nil, fieldErr(field, ErrSyntax, err.Error())
	}
	return t, nil
}

func (r *jsonReader) delim(field string, want json.Delim) error {
	t, err := r.token(field)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fieldErr(field, ErrFieldType, fmt.Sprintf("want %q, got %v", want, describe(t)))
	}
	return nil
}

func describe(t json.Token) string {
	switch t := t.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case json.Delim:
		return fmt.Sprintf("%q", rune(t))
	}
	return fmt.Sprintf("%T", t)
}

func (r *jsonReader) str(field string) (string, error) {
	t, err := r.token(field)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", fieldErr(field, ErrFieldType, "want a string, got "+describe(t))
	}
	return s, nil
}

// nullableStr returns ok=false for null.
func (r *jsonReader) nullableStr(field string) (string, bool, error) {
	t, err := r.token(field)
	if err != nil {
		return "", false, err
	}
	switch t := t.(type) {
	case nil:
		return "", false, nil
	case string:
		return t, true, nil
	}
	return "", false, fieldErr(field, ErrFieldType, "want a string or null, got "+describe(t))
}

func (r *jsonReader) strArray(field string) ([]string, error) {
	if err := r.delim(field, '['); err != nil {
		return nil, err
	}
	out := []string{}
	for r.dec.More() {
		s, err := r.str(fmt.Sprintf("%s[%d]", field, len(out)))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, r.delim(field, ']')
}

// object reads a JSON object, calling fn for each key after checking it is
// not a duplicate.
func (r *jsonReader) object(field string, fn func(key string) error) error {
	if err := r.delim(field, '{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for r.dec.More() {
		k, err := r.str(field)
		if err != nil {
			return err
		}
		if seen[k] {
			return fieldErr(join(field, k), ErrDuplicateKey, "")
		}
		seen[k] = true
		if err := fn(k); err != nil {
			return err
		}
	}
	return r.delim(field, '}')
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func parseOpFields(data []byte) (*Op, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := &jsonReader{dec: dec}
	op := &Op{}
	var have int
	prevNull := false
	err := r.object("", func(k string) error {
		bit, ok := fieldBits[k]
		if !ok {
			return fieldErr(k, ErrUnknownField, "")
		}
		have |= bit
		var err error
		switch k {
		case "type":
			op.Type, err = r.str(k)
		case "rotationKeys":
			op.RotationKeys, err = r.strArray(k)
		case "alsoKnownAs":
			op.AlsoKnownAs, err = r.strArray(k)
		case "verificationMethods":
			op.VerificationMethods = map[string]string{}
			err = r.object(k, func(id string) error {
				v, err := r.str(join(k, id))
				op.VerificationMethods[id] = v
				return err
			})
		case "services":
			op.Services = map[string]Service{}
			err = r.object(k, func(id string) error {
				var s Service
				var got int
				path := join(k, id)
				err := r.object(path, func(f string) error {
					var err error
					switch f {
					case "type":
						got |= 1
						s.Type, err = r.str(join(path, f))
					case "endpoint":
						got |= 2
						s.Endpoint, err = r.str(join(path, f))
					default:
						err = fieldErr(join(path, f), ErrUnknownField, "")
					}
					return err
				})
				if err == nil && got != 3 {
					missing := "type"
					if got&2 == 0 {
						missing = "endpoint"
					}
					err = fieldErr(join(path, missing), ErrMissingField, "")
				}
				op.Services[id] = s
				return err
			})
		case "prev":
			var ok bool
			op.Prev, ok, err = r.nullableStr(k)
			prevNull = !ok
			if err == nil && ok && op.Prev == "" {
				err = fieldErr(k, ErrInvalidCID, "empty string")
			}
		case "sig":
			op.Sig, err = r.str(k)
		case "signingKey":
			op.SigningKey, err = r.str(k)
		case "recoveryKey":
			op.RecoveryKey, err = r.str(k)
		case "handle":
			op.Handle, err = r.str(k)
		case "service":
			op.ServiceURL, err = r.str(k)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr("", ErrSyntax, "trailing data after the operation")
	}
	var want int
	switch op.Type {
	case TypeOperation:
		want = fType | fRotationKeys | fVerificationMethods | fAlsoKnownAs | fServices | fPrev | fSig
	case TypeTombstone:
		want = fType | fPrev | fSig
		if have&fPrev != 0 && prevNull {
			return nil, fieldErr("prev", ErrFieldType, "a tombstone's prev cannot be null")
		}
	case TypeCreate:
		want = fType | fSigningKey | fRecoveryKey | fHandle | fService | fPrev | fSig
		if have&fPrev != 0 && !prevNull {
			return nil, fieldErr("prev", ErrFieldType, "a legacy create operation's prev must be null")
		}
	case "":
		if have&fType == 0 {
			return nil, fieldErr("type", ErrMissingField, "")
		}
		return nil, fieldErr("type", ErrUnknownOpType, `""`)
	default:
		return nil, fieldErr("type", ErrUnknownOpType, op.Type)
	}
	for i, name := range fieldNames {
		bit := 1 << i
		if have&bit != 0 && want&bit == 0 {
			return nil, fieldErr(name, ErrUnknownField, "not a field of "+op.Type)
		}
		if have&bit == 0 && want&bit != 0 {
			return nil, fieldErr(name, ErrMissingField, "")
		}
	}
	if op.Prev != "" {
		if _, err := parseCID(op.Prev); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// MarshalJSON writes op with exactly the fields of its type.
func (op Op) MarshalJSON() ([]byte, error) {
	var prev any
	if op.Prev != "" {
		prev = op.Prev
	}
	str := func(ss []string) []string {
		if ss == nil {
			return []string{}
		}
		return ss
	}
	switch op.Type {
	case TypeOperation:
		vm := op.VerificationMethods
		if vm == nil {
			vm = map[string]string{}
		}
		sv := op.Services
		if sv == nil {
			sv = map[string]Service{}
		}
		return json.Marshal(struct {
			Type                string             `json:"type"`
			RotationKeys        []string           `json:"rotationKeys"`
			VerificationMethods map[string]string  `json:"verificationMethods"`
			AlsoKnownAs         []string           `json:"alsoKnownAs"`
			Services            map[string]Service `json:"services"`
			Prev                any                `json:"prev"`
			Sig                 string             `json:"sig,omitempty"`
		}{op.Type, str(op.RotationKeys), vm, str(op.AlsoKnownAs), sv, prev, op.Sig})
	case TypeTombstone:
		return json.Marshal(struct {
			Type string `json:"type"`
			Prev any    `json:"prev"`
			Sig  string `json:"sig,omitempty"`
		}{op.Type, prev, op.Sig})
	case TypeCreate:
		return json.Marshal(struct {
			Type        string `json:"type"`
			SigningKey  string `json:"signingKey"`
			RecoveryKey string `json:"recoveryKey"`
			Handle      string `json:"handle"`
			Service     string `json:"service"`
			Prev        any    `json:"prev"`
			Sig         string `json:"sig,omitempty"`
		}{op.Type, op.SigningKey, op.RecoveryKey, op.Handle, op.ServiceURL, prev, op.Sig})
	}
	return nil, fieldErr("type", ErrUnknownOpType, op.Type)
}

func parseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fieldErr("prev", ErrInvalidCID, err.Error())
	}
	if c.Version() != 1 || c.Type() != drisl.CodecDagCBOR || c.Prefix().MhType != drisl.HashSHA256 || c.String() != s {
		return cid.Undef, fieldErr("prev", ErrInvalidCID, "not a base32 CIDv1 dag-cbor sha2-256 CID")
	}
	return c, nil
}
