package plc

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/mr-tron/base58"
)

// Policy holds the reference directory's operational limits on submitted
// operations (packages/server/src/constraints.ts). The zero value means the
// reference's values; a negative field disables that one limit, and
// Disabled turns all of them off. Lengths count UTF-16 code units, as the
// reference's JavaScript does.
type Policy struct {
	// Disabled turns every limit off, the rate limits included. It is for
	// mirrors (which take what another directory accepted) and tests; a
	// directory that accepts operations from the public must not set it,
	// or anyone may store oversized operations and unbounded logs in it.
	Disabled bool

	MaxOpBytes                 int // DRISL size of the signed operation (4000)
	MaxRotationKeys            int // 10
	MaxAlsoKnownAs             int // 10
	MaxAlsoKnownAsLen          int // 258: a 253-char handle plus "at://"
	MaxServices                int // 10
	MaxServiceIDLen            int // 32
	MaxServiceTypeLen          int // 256
	MaxServiceEndpointLen      int // 512
	MaxVerificationMethods     int // 10
	MaxVerificationMethodIDLen int // 32
	MaxDIDKeyLen               int // 256

	// Per-DID rate limits on operations that nullify nothing, counted over
	// the DID's active operations: 10 per hour, 30 per day, 100 per week.
	MaxOpsPerHour int
	MaxOpsPerDay  int
	MaxOpsPerWeek int
}

func pick(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (p Policy) withDefaults() Policy {
	p.MaxOpBytes = pick(p.MaxOpBytes, 4000)
	p.MaxRotationKeys = pick(p.MaxRotationKeys, 10)
	p.MaxAlsoKnownAs = pick(p.MaxAlsoKnownAs, 10)
	p.MaxAlsoKnownAsLen = pick(p.MaxAlsoKnownAsLen, 258)
	p.MaxServices = pick(p.MaxServices, 10)
	p.MaxServiceIDLen = pick(p.MaxServiceIDLen, 32)
	p.MaxServiceTypeLen = pick(p.MaxServiceTypeLen, 256)
	p.MaxServiceEndpointLen = pick(p.MaxServiceEndpointLen, 512)
	p.MaxVerificationMethods = pick(p.MaxVerificationMethods, 10)
	p.MaxVerificationMethodIDLen = pick(p.MaxVerificationMethodIDLen, 32)
	p.MaxDIDKeyLen = pick(p.MaxDIDKeyLen, 256)
	p.MaxOpsPerHour = pick(p.MaxOpsPerHour, 10)
	p.MaxOpsPerDay = pick(p.MaxOpsPerDay, 30)
	p.MaxOpsPerWeek = pick(p.MaxOpsPerWeek, 100)
	return p
}

func over(n, limit int) bool { return limit >= 0 && n > limit }

func jsLen(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// Check applies the limits to an operation submitted to a directory, in
// the reference's order. Legacy create operations are refused, as the
// reference refuses them on submission. Errors wrap ErrPolicy (or
// ErrUnknownOpType for a legacy operation) in a *FieldError.
func (p Policy) Check(op *Op) error {
	if op.Type == TypeCreate {
		return fieldErr("type", ErrUnknownOpType, "legacy create operations cannot be submitted")
	}
	if p.Disabled {
		return nil
	}
	p = p.withDefaults()
	if p.MaxOpBytes >= 0 {
		b, err := op.encode(nil, op.Sig != "")
		if err != nil {
			return err
		}
		if len(b) > p.MaxOpBytes {
			return fieldErr("", ErrPolicy, fmt.Sprintf("operation is %d bytes of DRISL, limit %d", len(b), p.MaxOpBytes))
		}
	}
	if op.Type == TypeTombstone {
		return nil
	}
	if over(len(op.AlsoKnownAs), p.MaxAlsoKnownAs) {
		return fieldErr("alsoKnownAs", ErrPolicy, fmt.Sprintf("%d entries, limit %d", len(op.AlsoKnownAs), p.MaxAlsoKnownAs))
	}
	seen := map[string]bool{}
	for i, a := range op.AlsoKnownAs {
		if over(jsLen(a), p.MaxAlsoKnownAsLen) {
			return fieldErr(fmt.Sprintf("alsoKnownAs[%d]", i), ErrPolicy, fmt.Sprintf("longer than %d", p.MaxAlsoKnownAsLen))
		}
		if seen[a] {
			return fieldErr(fmt.Sprintf("alsoKnownAs[%d]", i), ErrPolicy, "duplicate entry "+a)
		}
		seen[a] = true
	}
	if over(len(op.RotationKeys), p.MaxRotationKeys) {
		return fieldErr("rotationKeys", ErrPolicy, fmt.Sprintf("%d keys, limit %d", len(op.RotationKeys), p.MaxRotationKeys))
	}
	for i, k := range op.RotationKeys {
		if parseRotationKey(k).err != nil {
			return fieldErr(fmt.Sprintf("rotationKeys[%d]", i), ErrPolicy, "not a P-256 or K-256 did:key: "+k)
		}
	}
	if over(len(op.Services), p.MaxServices) {
		return fieldErr("services", ErrPolicy, fmt.Sprintf("%d entries, limit %d", len(op.Services), p.MaxServices))
	}
	for _, id := range sortedKeys(op.Services) {
		s := op.Services[id]
		switch {
		case over(jsLen(id), p.MaxServiceIDLen):
			return fieldErr("services."+id, ErrPolicy, fmt.Sprintf("id longer than %d", p.MaxServiceIDLen))
		case over(jsLen(s.Type), p.MaxServiceTypeLen):
			return fieldErr("services."+id+".type", ErrPolicy, fmt.Sprintf("longer than %d", p.MaxServiceTypeLen))
		case over(jsLen(s.Endpoint), p.MaxServiceEndpointLen):
			return fieldErr("services."+id+".endpoint", ErrPolicy, fmt.Sprintf("longer than %d", p.MaxServiceEndpointLen))
		}
	}
	if over(len(op.VerificationMethods), p.MaxVerificationMethods) {
		return fieldErr("verificationMethods", ErrPolicy, fmt.Sprintf("%d entries, limit %d", len(op.VerificationMethods), p.MaxVerificationMethods))
	}
	for _, id := range sortedKeys(op.VerificationMethods) {
		k := op.VerificationMethods[id]
		switch {
		case over(jsLen(id), p.MaxVerificationMethodIDLen):
			return fieldErr("verificationMethods."+id, ErrPolicy, fmt.Sprintf("id longer than %d", p.MaxVerificationMethodIDLen))
		case over(jsLen(k), p.MaxDIDKeyLen):
			return fieldErr("verificationMethods."+id, ErrPolicy, fmt.Sprintf("key longer than %d", p.MaxDIDKeyLen))
		case !syntacticDIDKey(k):
			return fieldErr("verificationMethods."+id, ErrPolicy, "not a did:key with a base58btc multibase value: "+k)
		}
	}
	return nil
}

// syntacticDIDKey is the reference's minimal check on verification method
// keys: a did:key: prefix, then a base58btc multibase string with a
// multicodec varint prefix and some bytes.
func syntacticDIDKey(k string) bool {
	mb, ok := strings.CutPrefix(k, "did:key:")
	if !ok || len(mb) < 2 || mb[0] != 'z' {
		return false
	}
	b, err := base58.Decode(mb[1:])
	if err != nil || len(b) < 2 {
		return false
	}
	// varint multicodec prefix followed by key bytes
	for i, c := range b {
		if c&0x80 == 0 {
			return i+1 < len(b)
		}
	}
	return false
}

// checkRate applies the per-DID rate limits at time now to the createdAt
// times of the DID's active operations.
func (p Policy) checkRate(active []time.Time, now time.Time) error {
	if p.Disabled {
		return nil
	}
	p = p.withDefaults()
	var hour, day, week int
	for _, t := range active {
		if t.After(now.Add(-7 * 24 * time.Hour)) {
			week++
			if p.MaxOpsPerWeek >= 0 && week >= p.MaxOpsPerWeek {
				return fieldErr("", ErrPolicy, fmt.Sprintf("too many operations within the last week (max %d)", p.MaxOpsPerWeek))
			}
		}
		if t.After(now.Add(-24 * time.Hour)) {
			day++
			if p.MaxOpsPerDay >= 0 && day >= p.MaxOpsPerDay {
				return fieldErr("", ErrPolicy, fmt.Sprintf("too many operations within the last day (max %d)", p.MaxOpsPerDay))
			}
		}
		if t.After(now.Add(-time.Hour)) {
			hour++
			if p.MaxOpsPerHour >= 0 && hour >= p.MaxOpsPerHour {
				return fieldErr("", ErrPolicy, fmt.Sprintf("too many operations within the last hour (max %d)", p.MaxOpsPerHour))
			}
		}
	}
	return nil
}
