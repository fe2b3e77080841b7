package plc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// DirectoryOptions configures a Directory. The zero value means the
// defaults.
type DirectoryOptions struct {
	// Storage keeps the operations; nil means a new MemoryStorage.
	Storage Storage
	// Now is the directory's clock, which stamps accepted operations;
	// nil means time.Now. Tests inject a fake clock here.
	Now func() time.Time
	// Policy holds the limits on submitted operations (on by default).
	Policy Policy
	// Keys caches parsed rotation keys; nil means a cache owned by the
	// directory.
	Keys *KeyCache
}

// Directory is an embeddable did:plc directory: an http.Handler serving
// the reference directory's endpoints (GET /:did, /:did/data, /:did/log,
// /:did/log/audit, /:did/log/last, /export and /_health; POST /:did) on a
// Storage, validating every submitted operation with Policy and the rules
// of AuditState.CheckNext.
type Directory struct {
	store  Storage
	now    func() time.Time
	policy Policy
	keys   *KeyCache
	seed   maphash.Seed
	locks  [64]sync.Mutex
	mux    *http.ServeMux
}

// NewDirectory returns a Directory.
func NewDirectory(opts DirectoryOptions) *Directory {
	d := &Directory{store: opts.Storage, now: opts.Now, policy: opts.Policy, keys: opts.Keys, seed: maphash.MakeSeed()}
	if d.store == nil {
		d.store = NewMemoryStorage()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.keys == nil {
		d.keys = &KeyCache{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "townhall"})
	})
	mux.HandleFunc("GET /export", d.handleExport)
	mux.HandleFunc("GET /{did}", d.handleDoc)
	mux.HandleFunc("GET /{did}/data", d.handleData)
	mux.HandleFunc("GET /{did}/log", d.handleLog)
	mux.HandleFunc("GET /{did}/log/audit", d.handleAudit)
	mux.HandleFunc("GET /{did}/log/last", d.handleLast)
	mux.HandleFunc("POST /{did}", d.handleSubmit)
	d.mux = mux
	return d
}

// ServeHTTP implements http.Handler.
func (d *Directory) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// Client returns a Client that calls d in process, through
// HandlerTransport: no port, no network. opts.HTTPClient is replaced.
func (d *Directory) Client(opts ClientOptions) *Client {
	opts.HTTPClient = &http.Client{Transport: HandlerTransport(d)}
	return NewClient("http://plc.local", opts)
}

func (d *Directory) lock(did string) *sync.Mutex {
	return &d.locks[maphash.String(d.seed, did)%uint64(len(d.locks))]
}

// State rebuilds the validated state of did's log from storage, without
// verifying signatures again (they were verified when the operations were
// accepted). It returns an error wrapping ErrNotFound for an unknown DID.
func (d *Directory) State(ctx context.Context, did string) (*AuditState, error) {
	ops, err := d.store.AuditLog(ctx, did)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, did)
	}
	s := NewAuditState(did, ValidateOptions{Keys: d.keys})
	for i := range ops {
		so := &ops[i]
		op := so.Op
		p := prepared{op: &op, cid: so.CID, createdAt: so.CreatedAt, signer: so.KeyIndex, did: did}
		pl, err := s.check(&p)
		if err != nil {
			return nil, fmt.Errorf("plc: stored log of %s is inconsistent at %d: %w", did, i, err)
		}
		s.commit(&p, pl)
	}
	return s, nil
}

// Submit validates op as the next operation of did at the directory's
// current time (or 1 ms after the head's, if the clock has not moved past
// it) and stores it. It is what POST /:did does.
func (d *Directory) Submit(ctx context.Context, did string, op *Op) (*NextResult, error) {
	if err := d.policy.Check(op); err != nil {
		return nil, err
	}
	mu := d.lock(did)
	mu.Lock()
	defer mu.Unlock()
	s, err := d.State(ctx, did)
	if errors.Is(err, ErrNotFound) {
		if !didPattern.MatchString(did) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidDID, did)
		}
		s, err = NewAuditState(did, ValidateOptions{Keys: d.keys}), nil
	}
	if err != nil {
		return nil, err
	}
	head := ""
	at := d.now().UTC().Truncate(time.Millisecond)
	if s.Len() > 0 {
		_, head = s.Head()
		// Timestamps must strictly increase for the log to stay valid;
		// two operations within one millisecond get consecutive ones.
		if _, last, _, _ := s.Lookup(head); !at.After(last) {
			at = last.Add(time.Millisecond)
		}
	}
	res, err := s.CheckNext(op, at)
	if err != nil {
		return nil, err
	}
	if len(res.Nullified) == 0 && s.Len() > 0 {
		if err := d.policy.checkRate(s.activeTimes(), res.CreatedAt); err != nil {
			return nil, err
		}
	}
	so := StoredOp{DID: did, CID: res.CID, Op: *op.clone(), CreatedAt: res.CreatedAt, KeyIndex: res.KeyIndex}
	if err := d.store.Commit(ctx, so, head, res.Nullified); err != nil {
		return nil, err
	}
	return res, nil
}

// Import validates a whole audit log with ValidateAuditLog and stores it
// for a DID the directory does not know yet: how a mirror loads logs from
// another directory, legacy create operations included. Every entry must
// name the DID of the first (else an *OpError wrapping ErrDIDMismatch); a
// DID the directory already holds gives an error wrapping
// ErrAlreadyExists, both before any signature is verified.
func (d *Directory) Import(ctx context.Context, log []LogEntry) error {
	if len(log) == 0 {
		return ErrEmptyLog
	}
	did := log[0].DID
	for i := range log {
		if log[i].DID != did {
			return &OpError{Index: i, CID: log[i].CID, Err: ErrDIDMismatch, Detail: log[i].DID + " in a log of " + did}
		}
	}
	if err := d.checkNew(ctx, did); err != nil {
		return err
	}
	s, err := ValidateAuditLog(did, log, ValidateOptions{Keys: d.keys})
	if err != nil {
		return err
	}
	mu := d.lock(did)
	mu.Lock()
	defer mu.Unlock()
	// Again under the lock: a Submit or Import may have stored the DID
	// while the log was validated.
	if err := d.checkNew(ctx, did); err != nil {
		return err
	}
	// Replay the validated log into storage, so that every operation
	// nullifies, at its commit, exactly what it nullified when it was
	// accepted.
	r := NewAuditState(did, ValidateOptions{Keys: d.keys})
	for i := range s.entries {
		e := &s.entries[i]
		p := prepared{op: e.op, cid: e.cid, createdAt: e.createdAt, signer: e.signer, did: did}
		pl, err := r.check(&p)
		if err != nil {
			return err // unreachable: s was validated
		}
		head := ""
		if r.Len() > 0 {
			_, head = r.Head()
		}
		var nullify []string
		for _, c := range pl.nullify {
			nullify = append(nullify, r.entries[c].cid)
		}
		so := StoredOp{DID: did, CID: e.cid, Op: *e.op, CreatedAt: e.createdAt, KeyIndex: e.signer}
		if err := d.store.Commit(ctx, so, head, nullify); err != nil {
			return err
		}
		r.commit(&p, pl)
	}
	return nil
}

// checkNew returns an error wrapping ErrAlreadyExists if storage holds
// operations of did.
func (d *Directory) checkNew(ctx context.Context, did string) error {
	ops, err := d.store.AuditLog(ctx, did)
	if err != nil {
		return err
	}
	if len(ops) > 0 {
		return fmt.Errorf("%w: %s has %d operations here", ErrAlreadyExists, did, len(ops))
	}
	return nil
}

func (s *AuditState) activeTimes() []time.Time {
	var out []time.Time
	for i := range s.entries {
		if !s.entries[i].nullified {
			out = append(out, s.entries[i].createdAt)
		}
	}
	return out
}

var didPattern = regexp.MustCompile(`^did:plc:[a-z2-7]{24}$`)

// ---- HTTP ----

type messageBody struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, messageBody{Message: msg})
}

// statusOf maps an error to the reference server's status code: 400 for
// every invalid operation, 409 for a lost race on the head, 404 for an
// unknown DID, 500 otherwise.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	var fe *FieldError
	var oe *OpError
	if errors.As(err, &fe) || errors.As(err, &oe) || errors.Is(err, ErrInvalidDID) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (d *Directory) current(w http.ResponseWriter, r *http.Request) (*AuditState, bool) {
	did := r.PathValue("did")
	s, err := d.State(r.Context(), did)
	if err != nil {
		status := statusOf(err)
		msg := err.Error()
		if status == http.StatusNotFound {
			msg = "DID not registered: " + did
		}
		writeError(w, status, msg)
		return nil, false
	}
	return s, true
}

func (d *Directory) handleDoc(w http.ResponseWriter, r *http.Request) {
	s, ok := d.current(w, r)
	if !ok {
		return
	}
	data := s.Data()
	if data == nil {
		writeError(w, http.StatusGone, "DID not available: "+s.did)
		return
	}
	b, _ := json.Marshal(data.Document())
	w.Header().Set("Content-Type", "application/did+ld+json; charset=utf-8")
	w.Write(b)
}

func (d *Directory) handleData(w http.ResponseWriter, r *http.Request) {
	s, ok := d.current(w, r)
	if !ok {
		return
	}
	data := s.Data()
	if data == nil {
		writeError(w, http.StatusGone, "DID not available: "+s.did)
		return
	}
	writeJSON(w, http.StatusOK, data)
}

func (d *Directory) handleLog(w http.ResponseWriter, r *http.Request) {
	s, ok := d.current(w, r)
	if !ok {
		return
	}
	ops := []Op{}
	for i := range s.entries {
		if !s.entries[i].nullified {
			ops = append(ops, *s.entries[i].op)
		}
	}
	writeJSON(w, http.StatusOK, ops)
}

func (d *Directory) handleAudit(w http.ResponseWriter, r *http.Request) {
	s, ok := d.current(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.Entries())
}

func (d *Directory) handleLast(w http.ResponseWriter, r *http.Request) {
	s, ok := d.current(w, r)
	if !ok {
		return
	}
	op, _ := s.Head()
	writeJSON(w, http.StatusOK, op)
}

func (d *Directory) handleSubmit(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxOpJSONBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request entity too large")
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	op, err := ParseOp(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Not a valid operation: "+err.Error())
		return
	}
	if _, err := d.Submit(r.Context(), did, op); err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("OK"))
}

// ExportEntry is one line of /export. Seq and Type ("sequenced_op") are
// set in the sequenced format (after=<integer>); Nullified only in the
// legacy format (after=<timestamp> or none).
type ExportEntry struct {
	Type      string `json:"type,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	DID       string `json:"did"`
	Operation Op     `json:"operation"`
	CID       string `json:"cid"`
	CreatedAt string `json:"createdAt"`
	Nullified *bool  `json:"nullified,omitempty"`
}

var digits = regexp.MustCompile(`^[0-9]+$`)

func (d *Directory) handleExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	count := 1000
	if c := q.Get("count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "Invalid count parameter")
			return
		}
		count = min(n, 1000)
	}
	after := q.Get("after")
	var ops []StoredOp
	var err error
	sequenced := digits.MatchString(after)
	if sequenced {
		n, perr := strconv.ParseInt(after, 10, 64)
		if perr != nil {
			writeError(w, http.StatusBadRequest, "Invalid after parameter")
			return
		}
		ops, err = d.store.Export(r.Context(), n, count)
	} else {
		var t time.Time
		if after != "" {
			if t, err = time.Parse(time.RFC3339Nano, after); err != nil {
				writeError(w, http.StatusBadRequest, "Invalid after parameter")
				return
			}
		}
		ops, err = d.store.ExportSince(r.Context(), t, count)
	}
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/jsonlines")
	w.WriteHeader(http.StatusOK)
	for i, op := range ops {
		e := ExportEntry{DID: op.DID, Operation: op.Op, CID: op.CID, CreatedAt: FormatTime(op.CreatedAt)}
		if sequenced {
			e.Type, e.Seq = "sequenced_op", op.Seq
		} else {
			n := op.Nullified
			e.Nullified = &n
		}
		b, err := json.Marshal(e)
		if err != nil {
			return
		}
		if i > 0 {
			w.Write([]byte("\n"))
		}
		w.Write(b)
	}
}
