package plc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultDirectory is the public directory's base URL.
const DefaultDirectory = "https://plc.directory"

// ClientOptions configures a Client. The zero value means the defaults.
type ClientOptions struct {
	// HTTPClient sends the requests; nil means a new http.Client.
	HTTPClient *http.Client
	// Timeout bounds each request (default 10 s); a context deadline that
	// is sooner wins.
	Timeout time.Duration
	// UserAgent is sent with every request (default "townhall-plc").
	UserAgent string
	// MaxResponseBytes bounds a response body (default 16 MiB).
	MaxResponseBytes int64
	// Keys caches parsed rotation keys across validations (State,
	// VerifiedState, ResolveAtproto); nil means a cache owned by the client.
	Keys *KeyCache
}

// Client talks to a did:plc directory.
type Client struct {
	base string
	http *http.Client
	opts ClientOptions
	keys *KeyCache
}

// NewClient returns a client for the directory at baseURL (for example
// DefaultDirectory; for a Directory in process, see Directory.Client).
func NewClient(baseURL string, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "townhall-plc"
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 16 << 20
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	keys := opts.Keys
	if keys == nil {
		keys = &KeyCache{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: hc, opts: opts, keys: keys}
}

// HTTPError is a non-2xx answer from the directory. Err is ErrNotFound
// (404), ErrGone (410, a tombstoned DID), ErrConflict (409), ErrRateLimited
// (429), ErrRejected (400, an invalid operation) or ErrUnexpectedStatus.
type HTTPError struct {
	Status     int
	Message    string        // the directory's message, if it sent one
	RetryAfter time.Duration // from Retry-After on 429, when given in seconds
	Err        error
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%v (HTTP %d)", e.Err, e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *HTTPError) Unwrap() error { return e.Err }

func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > c.opts.MaxResponseBytes {
		return nil, fmt.Errorf("%w: response larger than %d bytes", ErrTooLarge, c.opts.MaxResponseBytes)
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	he := &HTTPError{Status: resp.StatusCode}
	var m messageBody
	if json.Unmarshal(data, &m) == nil {
		he.Message = m.Message
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		he.Err = ErrNotFound
	case http.StatusGone:
		he.Err = ErrGone
	case http.StatusConflict:
		he.Err = ErrConflict
	case http.StatusTooManyRequests:
		he.Err = ErrRateLimited
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			he.RetryAfter = time.Duration(s) * time.Second
		}
	case http.StatusBadRequest:
		he.Err = ErrRejected
	default:
		he.Err = ErrUnexpectedStatus
	}
	return nil, he
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	data, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("plc: decoding %s: %w", path, err)
	}
	return nil
}

func didPath(did string) string { return "/" + url.PathEscape(did) }

// Resolve fetches the DID document of did (/:did) as the directory
// serves it, unverified: a directory that lies is believed. To rely on
// the key or endpoint, use State or VerifiedState (which validate the
// audit log) or ResolveAtproto.
func (c *Client) Resolve(ctx context.Context, did string) (*Document, error) {
	var doc Document
	if err := c.getJSON(ctx, didPath(did), &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Data fetches the current data of did (/:did/data) as the directory
// serves it, unverified: a directory that lies is believed. To rely on
// it, use State or VerifiedState (whose AuditState.Data is computed from
// the validated audit log) or ResolveAtproto.
func (c *Client) Data(ctx context.Context, did string) (*Data, error) {
	var d Data
	if err := c.getJSON(ctx, didPath(did)+"/data", &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// OpLog fetches the active operations of did (/:did/log) as the directory
// serves them, unverified: neither signatures nor the prev chain are
// checked. Use State or VerifiedState for a validated log.
func (c *Client) OpLog(ctx context.Context, did string) ([]Op, error) {
	var ops []Op
	if err := c.getJSON(ctx, didPath(did)+"/log", &ops); err != nil {
		return nil, err
	}
	return ops, nil
}

// AuditLog fetches the full audit log of did (/:did/log/audit). Check it
// with ValidateAuditLog before trusting it.
func (c *Client) AuditLog(ctx context.Context, did string) ([]LogEntry, error) {
	var log []LogEntry
	if err := c.getJSON(ctx, didPath(did)+"/log/audit", &log); err != nil {
		return nil, err
	}
	return log, nil
}

// LastOp fetches the latest active operation of did (/:did/log/last) as
// the directory serves it, unverified. Use State or VerifiedState (and
// AuditState.Head) for a validated head.
func (c *Client) LastOp(ctx context.Context, did string) (*Op, error) {
	var op Op
	if err := c.getJSON(ctx, didPath(did)+"/log/last", &op); err != nil {
		return nil, err
	}
	return &op, nil
}

// VerifiedState fetches the audit log of did and validates it, so the
// result does not depend on trusting the directory beyond its choice of
// fork.
func (c *Client) VerifiedState(ctx context.Context, did string, opts ValidateOptions) (*AuditState, error) {
	log, err := c.AuditLog(ctx, did)
	if err != nil {
		return nil, err
	}
	for i := range log {
		if log[i].DID != did {
			return nil, &OpError{Index: i, CID: log[i].CID, Err: ErrDIDMismatch}
		}
	}
	return ValidateAuditLog(did, log, opts)
}

// Submit posts a signed operation for did.
func (c *Client) Submit(ctx context.Context, did string, op *Op) error {
	body, err := json.Marshal(op)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, didPath(did), body)
	return err
}

// ExportOptions selects a page of /export.
type ExportOptions struct {
	// After is the sequence number to continue after (0 for the start).
	After int64
	// Count is the page size (default and maximum 1000).
	Count int
}

// Export fetches one page of the sequenced export. Continue with
// After set to the Seq of the last entry; an empty page means the end.
func (c *Client) Export(ctx context.Context, opts ExportOptions) ([]ExportEntry, error) {
	count := opts.Count
	if count <= 0 || count > 1000 {
		count = 1000
	}
	q := url.Values{"after": {strconv.FormatInt(opts.After, 10)}, "count": {strconv.Itoa(count)}}
	data, err := c.do(ctx, http.MethodGet, "/export?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var out []ExportEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxOpJSONBytes*2)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e ExportEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("plc: export line %d: %w", len(out)+1, err)
		}
		if e.Type != "sequenced_op" {
			return nil, fmt.Errorf("%w: export line %d has type %q", ErrSyntax, len(out)+1, e.Type)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ExportEach walks the sequenced export from after to its current end,
// page by page, calling fn for each entry in order. It returns the Seq of
// the last entry seen (after, if none), from which a later call resumes.
func (c *Client) ExportEach(ctx context.Context, after int64, fn func(ExportEntry) error) (int64, error) {
	for {
		page, err := c.Export(ctx, ExportOptions{After: after})
		if err != nil {
			return after, err
		}
		if len(page) == 0 {
			return after, nil
		}
		for _, e := range page {
			if e.Seq <= after {
				return after, fmt.Errorf("%w: export sequence went from %d to %d", ErrSyntax, after, e.Seq)
			}
			if err := fn(e); err != nil {
				return after, err
			}
			after = e.Seq
		}
	}
}
