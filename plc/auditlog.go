package plc

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/townhall-dev/townhall/drisl"
)

// RecoveryWindow is how long after an operation a strictly higher-priority
// rotation key may still nullify it. Exactly 72 h is inside the window.
const RecoveryWindow = 72 * time.Hour

// TimeLayout is the createdAt format of the directory (UTC, milliseconds).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// LogEntry is one entry of an audit log, as /:did/log/audit serves it.
type LogEntry struct {
	DID       string `json:"did"`
	Operation Op     `json:"operation"`
	CID       string `json:"cid"`
	Nullified bool   `json:"nullified"`
	CreatedAt string `json:"createdAt"`
}

// FormatTime formats t as a directory createdAt string.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses a createdAt string (RFC 3339; the directory writes
// millisecond precision in UTC).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fieldErr("createdAt", ErrInvalidTimestamp, err.Error())
	}
	return t, nil
}

// ValidateOptions configures audit-log validation. The zero value means the
// defaults.
type ValidateOptions struct {
	// Keys caches parsed rotation keys across calls; nil means a cache
	// private to the call.
	Keys *KeyCache
	// Workers is the number of goroutines verifying signatures of a whole
	// log; 0 means GOMAXPROCS, 1 verifies on the calling goroutine.
	Workers int
}

// entry is the validated state of one operation of a log.
type entry struct {
	op        *Op
	cid       string
	createdAt time.Time
	nullified bool
	keys      []string // rotation keys this op grants to its children
	limit     int      // how many of keys may still sign a new child of this op
	lastChild int      // index of the most recent child, or -1
	signer    int      // index of the signing key in the authorising key list
}

// AuditState is a validated operation log of one DID: the result of
// ValidateAuditLog, and the state against which a proposed next operation
// is checked (CheckNext) and applied (Apply). Reading methods may run
// concurrently; Apply must not run concurrently with anything.
type AuditState struct {
	did     string
	entries []entry
	byCID   map[string]int
	head    int
	keys    *KeyCache
}

// DID returns the DID the log belongs to.
func (s *AuditState) DID() string { return s.did }

// Len returns the number of operations in the log, nullified ones included.
func (s *AuditState) Len() int { return len(s.entries) }

// Head returns a copy of the current (latest non-nullified) operation and
// its CID. On an empty state (NewAuditState before its genesis operation
// is applied) it returns nil and "".
func (s *AuditState) Head() (*Op, string) {
	if len(s.entries) == 0 {
		return nil, ""
	}
	e := &s.entries[s.head]
	return e.op.clone(), e.cid
}

// Tombstoned reports whether the DID is deactivated. An empty state is not
// tombstoned.
func (s *AuditState) Tombstoned() bool {
	return len(s.entries) > 0 && s.entries[s.head].op.Type == TypeTombstone
}

// Data returns the DID's current data, or nil when it is tombstoned or the
// state is empty (no genesis operation yet).
func (s *AuditState) Data() *Data {
	if len(s.entries) == 0 {
		return nil
	}
	return DataOf(s.did, s.entries[s.head].op)
}

// Entries returns the audit log with the nullified flags the rules give.
func (s *AuditState) Entries() []LogEntry {
	out := make([]LogEntry, len(s.entries))
	for i := range s.entries {
		e := &s.entries[i]
		out[i] = LogEntry{DID: s.did, Operation: *e.op, CID: e.cid, Nullified: e.nullified, CreatedAt: FormatTime(e.createdAt)}
	}
	return out
}

// Lookup returns the operation with the given CID, its createdAt and
// whether it is nullified.
func (s *AuditState) Lookup(cidStr string) (op *Op, createdAt time.Time, nullified, ok bool) {
	i, ok := s.byCID[cidStr]
	if !ok {
		return nil, time.Time{}, false, false
	}
	e := &s.entries[i]
	return e.op.clone(), e.createdAt, e.nullified, true
}

// prepared is the per-operation work that does not depend on the order of
// the rules: encodings, CID, sig decoding and the signer search.
type prepared struct {
	op        *Op
	unsigned  []byte
	cid       string
	sig       []byte
	createdAt time.Time
	err       error // structural error (encoding, sig syntax, timestamp)
	did       string
	signer    int
	sigErr    error
}

func prepare(op *Op, createdAt string) prepared {
	p := prepared{op: op, signer: -1}
	signed, err := op.encode(make([]byte, 0, 512), true)
	if err != nil {
		p.err = err
		return p
	}
	p.cid = cidString(signed)
	if op.IsGenesis() {
		p.did = didFromSigned(signed)
	}
	p.unsigned, p.err = op.encode(make([]byte, 0, len(signed)), false)
	if p.err != nil {
		return p
	}
	if p.sig, p.err = decodeSig(op.Sig); p.err != nil {
		return p
	}
	if createdAt != "" {
		p.createdAt, p.err = ParseTime(createdAt)
	}
	return p
}

// ValidateAuditLog checks a whole audit log of did (as served by
// /:did/log/audit, nullified operations included, in order) against every
// rule of the spec and the reference implementation: CIDs, the genesis
// operation and the DID it derives, the prev chain, signatures against the
// authorised rotation keys, strictly increasing timestamps, tombstones,
// nullification by a strictly higher-priority key within RecoveryWindow, and
// the consistency of the nullified flags. The error is an *OpError naming
// the first operation that breaks a rule.
func ValidateAuditLog(did string, log []LogEntry, opts ValidateOptions) (*AuditState, error) {
	if len(log) == 0 {
		return nil, ErrEmptyLog
	}
	s := &AuditState{did: did, byCID: make(map[string]int, len(log)), keys: opts.Keys}
	if s.keys == nil {
		s.keys = &KeyCache{}
	}
	preps := make([]prepared, len(log))
	for i := range log {
		preps[i] = prepare(&log[i].Operation, log[i].CreatedAt)
	}
	// Candidate signing keys of each operation: its own for a genesis
	// operation, else those of the operation its prev names.
	idx := make(map[string]int, len(log))
	cands := make([][]string, len(log))
	for i := range preps {
		p := &preps[i]
		if p.err != nil {
			continue
		}
		if i == 0 {
			cands[i] = rotationKeysOf(p.op)
		} else if j, ok := idx[p.op.Prev]; ok {
			cands[i] = rotationKeysOf(preps[j].op)
		}
		if _, dup := idx[p.cid]; !dup {
			idx[p.cid] = i
		}
	}
	verifyAll(s.keys, preps, cands, opts.Workers)

	for i := range log {
		le := &log[i]
		p := &preps[i]
		fail := func(err error, detail string) (*AuditState, error) {
			return nil, &OpError{Index: i, CID: le.CID, Err: err, Detail: detail}
		}
		if le.DID != did {
			return fail(ErrDIDMismatch, le.DID)
		}
		if le.CreatedAt == "" {
			return fail(ErrInvalidTimestamp, "missing createdAt")
		}
		if p.err != nil {
			return fail(p.err, "")
		}
		if p.cid != le.CID {
			return fail(ErrCIDMismatch, "computed "+p.cid)
		}
		if _, dup := s.byCID[p.cid]; dup {
			return fail(ErrCIDMismatch, "operation appears twice")
		}
		pl, err := s.check(p)
		if err != nil {
			return fail(err, "")
		}
		s.commit(p, pl)
	}
	for i := range log {
		if log[i].Nullified != s.entries[i].nullified {
			return nil, &OpError{Index: i, CID: log[i].CID, Err: ErrNullifiedFlag,
				Detail: fmt.Sprintf("log says %v, rules give %v", log[i].Nullified, s.entries[i].nullified)}
		}
	}
	return s, nil
}

func cidString(signed []byte) string {
	return drisl.SumCID(drisl.CodecDagCBOR, signed).String()
}

// verifyAll finds the signer of every prepared operation among its
// candidate keys, splitting the log into one contiguous chunk per worker,
// trying first the key guessSigner names.
func verifyAll(keys *KeyCache, preps []prepared, cands [][]string, workers int) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// A verification costs ~0.1 ms and a goroutine ~1 µs, so even short
	// logs are worth splitting; two operations per chunk at least, since
	// each chunk starts without the previous operation's signer.
	if workers > len(preps)/2 {
		workers = max(1, len(preps)/2)
	}
	run := func(lo, hi int) {
		lastKey := ""
		for i := lo; i < hi; i++ {
			p := &preps[i]
			if p.err != nil {
				continue
			}
			hint := guessSigner(preps, cands, i, lo, lastKey)
			p.signer, p.sigErr = verifyAny(keys, cands[i], p.unsigned, p.sig, hint)
			// A fork's signer (a recovery key) rarely signs what
			// follows: forget it.
			lastKey = ""
			if p.sigErr == nil && hint >= 0 {
				lastKey = cands[i][p.signer]
			}
		}
	}
	if workers == 1 {
		run(0, len(preps))
		return
	}
	var wg sync.WaitGroup
	chunk := (len(preps) + workers - 1) / workers
	for lo := 0; lo < len(preps); lo += chunk {
		hi := min(lo+chunk, len(preps))
		wg.Add(1)
		go func() { defer wg.Done(); run(lo, hi) }()
	}
	wg.Wait()
}

// guessSigner returns the index in cands[i] of the key most likely to have
// signed operation i, to be tried first (a wrong guess costs one more
// verification, never a different answer), or -1 for priority order:
//
//   - a fork (prev is not the operation just before) nullifies, so it is
//     signed by a key that outranks another signer: priority order;
//   - else the previous operation's signing key (lastKey, known within a
//     chunk, and not kept after a fork) while it is still a rotation key;
//   - else the last key: communities and PDSs list rotation keys as
//     [recovery keys..., host key], and the host signs genesis and routine
//     operations.
func guessSigner(preps []prepared, cands [][]string, i, lo int, lastKey string) int {
	if i > 0 && preps[i].op.Prev != preps[i-1].cid {
		return -1
	}
	if i > lo && lastKey != "" {
		if j := slices.Index(cands[i], lastKey); j >= 0 {
			return j
		}
	}
	return len(cands[i]) - 1
}

// plan is what applying a checked operation changes.
type plan struct {
	prev    int   // index of prev, -1 for genesis
	nullify []int // indices of operations it nullifies
	signer  int
}

// check applies the rules to a prepared operation (whose signer search is
// done) without changing s.
func (s *AuditState) check(p *prepared) (plan, error) {
	op := p.op
	if len(s.entries) == 0 {
		if op.Type == TypeTombstone {
			return plan{}, ErrGenesisTombstone
		}
		if op.Prev != "" {
			return plan{}, ErrGenesisPrev
		}
		if p.did != s.did {
			return plan{}, fmt.Errorf("%w: genesis gives %s", ErrDIDMismatch, p.did)
		}
		if p.sigErr != nil {
			return plan{}, p.sigErr
		}
		if p.signer < 0 || p.signer >= len(rotationKeysOf(op)) {
			return plan{}, ErrSigInvalid // only reachable with a bad stored KeyIndex
		}
		return plan{prev: -1, signer: p.signer}, nil
	}
	if op.Type == TypeCreate {
		return plan{}, ErrLegacyNotCreate
	}
	if op.Prev == "" {
		return plan{}, ErrAlreadyExists
	}
	pi, ok := s.byCID[op.Prev]
	if !ok {
		return plan{}, fmt.Errorf("%w: %s", ErrPrevNotFound, op.Prev)
	}
	prev := &s.entries[pi]
	if prev.nullified {
		return plan{}, fmt.Errorf("%w: %s", ErrPrevNullified, op.Prev)
	}
	if prev.op.Type == TypeTombstone {
		return plan{}, ErrTombstoned
	}
	if p.sigErr != nil {
		return plan{}, p.sigErr
	}
	if p.signer < 0 || p.signer >= len(prev.keys) {
		return plan{}, ErrSigInvalid // only reachable with a bad stored KeyIndex
	}
	if p.signer >= prev.limit {
		// The key verifies, but a child of prev signed by it or a
		// higher-priority key already exists: only a strictly
		// higher-priority key may fork here.
		return plan{}, fmt.Errorf("%w: signed by rotation key %d, needs a key above %d", ErrNullifyUnauthorized, p.signer, prev.limit)
	}
	head := &s.entries[s.head]
	if !p.createdAt.After(head.createdAt) {
		return plan{}, fmt.Errorf("%w: %s is not after %s", ErrTimestampOrder, FormatTime(p.createdAt), FormatTime(head.createdAt))
	}
	pl := plan{prev: pi, signer: p.signer}
	if pi != s.head {
		first := prev.lastChild
		if lapse := p.createdAt.Sub(s.entries[first].createdAt); lapse > RecoveryWindow {
			return plan{}, fmt.Errorf("%w: %s after the first nullified operation", ErrLateRecovery, lapse)
		}
		for c := first; c >= 0; c = s.entries[c].lastChild {
			pl.nullify = append(pl.nullify, c)
		}
	}
	return pl, nil
}

func (s *AuditState) commit(p *prepared, pl plan) {
	for _, c := range pl.nullify {
		s.entries[c].nullified = true
	}
	i := len(s.entries)
	if pl.prev >= 0 {
		s.entries[pl.prev].limit = pl.signer
		s.entries[pl.prev].lastChild = i
	}
	keys := rotationKeysOf(p.op)
	s.entries = append(s.entries, entry{op: p.op, cid: p.cid, createdAt: p.createdAt, keys: keys,
		limit: len(keys), lastChild: -1, signer: pl.signer})
	s.byCID[p.cid] = i
	s.head = i
}
