package plc

import (
	"fmt"
	"slices"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Community identities: the rotation keys of a community's did:plc are
// ordered [recovery key(s)..., host key]. The host signs routine updates
// with its key; a recovery key, held by the community and never by the
// host, outranks it, so it can move the community to another host without
// the old host's consent and undo anything the host signed in the last
// RecoveryWindow.

// GenesisOptions describes a community's identity at creation.
type GenesisOptions struct {
	// RecoveryKeys are the community's recovery did:keys, highest
	// priority first. At least one is required.
	RecoveryKeys []string
	// HostRotationKey is the did:key of the host's rotation key; it comes
	// last, with the lowest priority.
	HostRotationKey string
	// SigningKey is the host's atproto signing key (did:key), published
	// as verificationMethods.atproto.
	SigningKey string
	// Endpoint is the host's service URL, published as the atproto_pds
	// service.
	Endpoint string
	// Handle, if set, is published as alsoKnownAs "at://" + Handle.
	Handle string
}

// NewGenesis builds the genesis operation of a community and signs it with
// signer, which must hold one of its rotation keys (usually the host's). It
// returns the operation and the DID it creates.
func NewGenesis(opts GenesisOptions, signer atcrypto.PrivateKey) (*Op, string, error) {
	if len(opts.RecoveryKeys) == 0 {
		return nil, "", fieldErr("rotationKeys", ErrMissingField, "a community needs at least one recovery key")
	}
	if opts.HostRotationKey == "" || opts.SigningKey == "" || opts.Endpoint == "" {
		return nil, "", fieldErr("", ErrMissingField, "host rotation key, signing key and endpoint are required")
	}
	op := &Op{
		Type:                TypeOperation,
		RotationKeys:        append(slices.Clone(opts.RecoveryKeys), opts.HostRotationKey),
		VerificationMethods: map[string]string{"atproto": opts.SigningKey},
		AlsoKnownAs:         []string{},
		Services:            map[string]Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: opts.Endpoint}},
	}
	if opts.Handle != "" {
		op.AlsoKnownAs = []string{ensureAtprotoPrefix(opts.Handle)}
	}
	if err := checkKeys(op.RotationKeys, op.VerificationMethods["atproto"]); err != nil {
		return nil, "", err
	}
	if err := signWithRotationKey(op, op.RotationKeys, signer); err != nil {
		return nil, "", err
	}
	did, err := op.DID()
	if err != nil {
		return nil, "", err
	}
	return op, did, nil
}

func checkKeys(rotation []string, signing string) error {
	for i, k := range rotation {
		if err := parseRotationKey(k).err; err != nil {
			return fieldErr(fmt.Sprintf("rotationKeys[%d]", i), ErrUnsupportedKey, k)
		}
	}
	if !syntacticDIDKey(signing) {
		return fieldErr("verificationMethods.atproto", ErrInvalidDIDKey, signing)
	}
	return nil
}

func signWithRotationKey(op *Op, keys []string, signer atcrypto.PrivateKey) error {
	pub, err := signer.PublicKey()
	if err != nil {
		return err
	}
	if !slices.Contains(keys, pub.DIDKey()) {
		return fmt.Errorf("%w: %s", ErrNotRecoveryKey, pub.DIDKey())
	}
	return Sign(op, signer)
}

// MoveOptions describes the community's new host.
type MoveOptions struct {
	NewSigningKey      string // the new host's atproto signing key (did:key)
	NewEndpoint        string // the new host's service URL
	NewHostRotationKey string // the new host's rotation key (did:key)
	// RecoveryKeys, if set, replace the recovery keys; by default they are
	// those of the operation moved from (all its rotation keys but the
	// last, the old host's).
	RecoveryKeys []string
	// From is the CID of the operation to build on; "" means the head.
	From string
	// Hostile, if set, is the CID of an operation to undo: the move builds
	// on its prev, which nullifies it and everything after it. It must be
	// an active, non-genesis operation, and From must then be empty.
	// Nullify requires it.
	Hostile string
}

// Move builds the operation, signed with a recovery key, that moves a
// community to a new host without the old host: new signing key, new
// endpoint, rotation keys [recovery keys..., new host key]; alsoKnownAs
// and other services and verification methods are kept.
//
// Move checks what it can without a clock: the operation it builds on
// exists, is active and is not a tombstone, the keys are valid, and
// recovery is a rotation key of that operation. Whether the directory
// accepts the result also depends on when it arrives (a fork must come
// within RecoveryWindow of the operations it nullifies, from a
// higher-priority key), so check it with s.CheckNext at that time (or
// submit it) before relying on it; Nullify does that check.
func Move(s *AuditState, opts MoveOptions, recovery atcrypto.PrivateKey) (*Op, error) {
	if s.Len() == 0 {
		return nil, ErrEmptyLog
	}
	if opts.Hostile != "" {
		if opts.From != "" {
			return nil, fmt.Errorf("%w: MoveOptions.From and Hostile are both set", ErrInvalidOptions)
		}
		op, _, nullified, ok := s.Lookup(opts.Hostile)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrPrevNotFound, opts.Hostile)
		}
		if nullified || op.IsGenesis() {
			return nil, fmt.Errorf("%w: %s", ErrNothingToNullify, opts.Hostile)
		}
		opts.From = op.Prev
	}
	from, fromCID := s.Head()
	if opts.From != "" {
		op, _, nullified, ok := s.Lookup(opts.From)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrPrevNotFound, opts.From)
		}
		if nullified {
			return nil, fmt.Errorf("%w: %s", ErrPrevNullified, opts.From)
		}
		from, fromCID = op, opts.From
	}
	if from.Type == TypeTombstone {
		return nil, ErrTombstoned
	}
	if opts.NewSigningKey == "" || opts.NewEndpoint == "" || opts.NewHostRotationKey == "" {
		return nil, fieldErr("", ErrMissingField, "new signing key, endpoint and host rotation key are required")
	}
	base := from.Normalize()
	recoveryKeys := opts.RecoveryKeys
	if recoveryKeys == nil && len(base.RotationKeys) > 0 {
		recoveryKeys = base.RotationKeys[:len(base.RotationKeys)-1]
	}
	op := base.clone()
	op.Type = TypeOperation
	op.Prev = fromCID
	op.Sig = ""
	op.RotationKeys = append(slices.Clone(recoveryKeys), opts.NewHostRotationKey)
	if op.VerificationMethods == nil {
		op.VerificationMethods = map[string]string{}
	}
	op.VerificationMethods["atproto"] = opts.NewSigningKey
	if op.Services == nil {
		op.Services = map[string]Service{}
	}
	op.Services["atproto_pds"] = Service{Type: "AtprotoPersonalDataServer", Endpoint: opts.NewEndpoint}
	if op.AlsoKnownAs == nil {
		op.AlsoKnownAs = []string{}
	}
	if err := checkKeys(op.RotationKeys, opts.NewSigningKey); err != nil {
		return nil, err
	}
	if err := signWithRotationKey(op, rotationKeysOf(from), recovery); err != nil {
		return nil, err
	}
	return op, nil
}

// Nullify builds the recovery operation that undoes opts.Hostile (and
// everything after it) and moves the community to a new host in the same
// step: Move with Hostile set, signed with a recovery key that must
// outrank the hostile operation's signer. Unlike Move, it checks the
// result against s at time at (as CheckNext does), because a
// nullification is valid only within RecoveryWindow of the operations it
// undoes and only from a higher-priority key, and the caller needs to know
// what it nullifies: it returns the result with those CIDs. After
// RecoveryWindow the error wraps ErrLateRecovery.
func Nullify(s *AuditState, opts MoveOptions, recovery atcrypto.PrivateKey, at time.Time) (*Op, *NextResult, error) {
	if opts.Hostile == "" {
		return nil, nil, fieldErr("", ErrMissingField, "Nullify needs MoveOptions.Hostile, the operation to undo")
	}
	rec, err := Move(s, opts, recovery)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.CheckNext(rec, at)
	if err != nil {
		return nil, nil, err
	}
	return rec, res, nil
}

// UpdateOptions changes a community's data in a routine update signed by
// the host (or any rotation key).
type UpdateOptions struct {
	RotationKeys        []string           // nil keeps the current ones
	VerificationMethods map[string]string  // entries set or replaced
	Services            map[string]Service // entries set or replaced
	AlsoKnownAs         []string           // nil keeps the current ones
}

// Update builds and signs an update of the head operation of s.
func Update(s *AuditState, opts UpdateOptions, signer atcrypto.PrivateKey) (*Op, error) {
	if s.Len() == 0 {
		return nil, ErrEmptyLog
	}
	head, headCID := s.Head()
	if head.Type == TypeTombstone {
		return nil, ErrTombstoned
	}
	op := head.Normalize()
	op.Prev, op.Sig = headCID, ""
	if opts.RotationKeys != nil {
		op.RotationKeys = slices.Clone(opts.RotationKeys)
	}
	if opts.AlsoKnownAs != nil {
		op.AlsoKnownAs = slices.Clone(opts.AlsoKnownAs)
	}
	if op.VerificationMethods == nil {
		op.VerificationMethods = map[string]string{}
	}
	for k, v := range opts.VerificationMethods {
		op.VerificationMethods[k] = v
	}
	if op.Services == nil {
		op.Services = map[string]Service{}
	}
	for k, v := range opts.Services {
		op.Services[k] = v
	}
	if err := signWithRotationKey(op, rotationKeysOf(head), signer); err != nil {
		return nil, err
	}
	return op, nil
}

// Tombstone builds and signs a tombstone on the head of s.
func Tombstone(s *AuditState, signer atcrypto.PrivateKey) (*Op, error) {
	if s.Len() == 0 {
		return nil, ErrEmptyLog
	}
	head, headCID := s.Head()
	if head.Type == TypeTombstone {
		return nil, ErrTombstoned
	}
	op := &Op{Type: TypeTombstone, Prev: headCID}
	if err := signWithRotationKey(op, rotationKeysOf(head), signer); err != nil {
		return nil, err
	}
	return op, nil
}
