package plc

import (
	"time"
)

// NextResult describes an accepted next operation.
type NextResult struct {
	CID       string    // CID of the new operation
	Prev      string    // CID it builds on ("" for a genesis operation)
	Nullified []string  // CIDs of the operations it nullifies, oldest first
	KeyIndex  int       // index of the signing key in the authorising rotation keys
	CreatedAt time.Time // the timestamp it was checked with (ms precision)
}

// CheckNext reports whether op, received at time at, is a valid next
// operation of the log, as a directory decides when op is submitted: a
// regular update of the head, or a fork from an earlier active operation
// that nullifies everything after it (allowed only to a strictly
// higher-priority rotation key, within RecoveryWindow of the first
// operation it nullifies). It does not change s. The error is an *OpError
// with Index -1.
func (s *AuditState) CheckNext(op *Op, at time.Time) (*NextResult, error) {
	p, pl, err := s.checkNext(op, at)
	if err != nil {
		return nil, err
	}
	return s.result(&p, pl), nil
}

// Apply checks op like CheckNext and, if it is valid, appends it to s.
func (s *AuditState) Apply(op *Op, at time.Time) (*NextResult, error) {
	p, pl, err := s.checkNext(op, at)
	if err != nil {
		return nil, err
	}
	res := s.result(&p, pl)
	s.commit(&p, pl)
	return res, nil
}

func (s *AuditState) result(p *prepared, pl plan) *NextResult {
	r := &NextResult{CID: p.cid, KeyIndex: pl.signer, CreatedAt: p.createdAt}
	if pl.prev >= 0 {
		r.Prev = s.entries[pl.prev].cid
	}
	for _, i := range pl.nullify {
		r.Nullified = append(r.Nullified, s.entries[i].cid)
	}
	return r
}

func (s *AuditState) checkNext(op *Op, at time.Time) (prepared, plan, error) {
	op = op.clone()
	p := prepare(op, "")
	p.createdAt = at.UTC().Truncate(time.Millisecond)
	fail := func(err error) (prepared, plan, error) {
		return p, plan{}, &OpError{Index: -1, CID: p.cid, Err: err}
	}
	if p.err != nil {
		return fail(p.err)
	}
	if _, dup := s.byCID[p.cid]; dup {
		return fail(ErrAlreadyExists)
	}
	// Authorising keys: the operation's own for a genesis operation, else
	// those of its prev, of which only the first limit may sign; the rest
	// are tried only to tell an unauthorised nullification apart.
	var keys []string
	limit := 0
	if len(s.entries) == 0 {
		keys = rotationKeysOf(op)
		limit = len(keys)
	} else if i, ok := s.byCID[op.Prev]; ok {
		keys, limit = s.entries[i].keys, s.entries[i].limit
	}
	if len(s.entries) == 0 || keys != nil {
		// The host key, conventionally last, signs most operations
		// (see guessSigner).
		p.signer, p.sigErr = verifyAny(s.keys, keys[:limit], p.unsigned, p.sig, limit-1)
		if p.sigErr != nil && limit < len(keys) {
			if j, err := verifyAny(s.keys, keys, p.unsigned, p.sig, -1); err == nil {
				p.signer, p.sigErr = j, nil
			}
		}
	} else {
		p.sigErr = ErrNoRotationKeys
	}
	pl, err := s.check(&p)
	if err != nil {
		return fail(err)
	}
	return p, pl, nil
}

// NewAuditState starts an empty log for did, to which the genesis
// operation is then applied with Apply (as a directory does on the first
// submission).
func NewAuditState(did string, opts ValidateOptions) *AuditState {
	s := &AuditState{did: did, byCID: map[string]int{}, keys: opts.Keys}
	if s.keys == nil {
		s.keys = &KeyCache{}
	}
	return s
}

// ValidateNext validates a whole audit log and then checks op as its next
// operation at time at; see ValidateAuditLog and CheckNext. An empty log
// means op must be the genesis operation of did.
func ValidateNext(did string, log []LogEntry, op *Op, at time.Time, opts ValidateOptions) (*NextResult, error) {
	s := NewAuditState(did, opts)
	if len(log) > 0 {
		var err error
		if s, err = ValidateAuditLog(did, log, opts); err != nil {
			return nil, err
		}
	}
	return s.CheckNext(op, at)
}
