package plc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the injected clock of the tests' directories.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testServer reaches a handler in process through HandlerTransport: the
// tests' directories listen on no port.
type testServer struct {
	URL  string
	HTTP *http.Client
}

func newTestServer(h http.Handler) *testServer {
	return &testServer{URL: "http://plc.test", HTTP: &http.Client{Transport: HandlerTransport(h)}}
}

// client returns a Client of the server.
func (s *testServer) client(opts ClientOptions) *Client {
	opts.HTTPClient = s.HTTP
	return NewClient(s.URL, opts)
}

func newTestDirectory(t testing.TB, store Storage) (*Directory, *fakeClock, *testServer) {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := NewDirectory(DirectoryOptions{Storage: store, Now: clock.Now})
	return dir, clock, newTestServer(dir)
}

func post(t testing.TB, srv *testServer, did string, body []byte) (int, string) {
	t.Helper()
	resp, err := srv.HTTP.Post(srv.URL+"/"+did, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t testing.TB, srv *testServer, path string) (int, []byte) {
	t.Helper()
	resp, err := srv.HTTP.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// rawOps returns the operations of a vector file as the exact JSON bytes
// it holds, so the directory parses what a client would send.
func rawOps(t testing.TB, name string) []json.RawMessage {
	data, err := os.ReadFile(filepath.Join("testdata", "didplc", name))
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Operation json.RawMessage `json:"operation"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		t.Fatal(err)
	}
	out := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		out[i] = e.Operation
	}
	return out
}

func storages(t *testing.T) map[string]func() Storage {
	return map[string]func() Storage{
		"memory": func() Storage { return NewMemoryStorage() },
		"sqlite": func() Storage {
			s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "plc.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// TestDirectoryVectors replays every vector log against the embeddable
// directory, one POST per operation at the operation's createdAt, and
// checks the answers the reference server gives: 200 for each valid
// operation, 400 for the first invalid one, then the audit log, document
// (410 once tombstoned) and data it serves.
func TestDirectoryVectors(t *testing.T) {
	for name, mk := range storages(t) {
		t.Run(name, func(t *testing.T) {
			for _, v := range validVectors {
				t.Run(v.file, func(t *testing.T) {
					log := loadLog(t, v.file)
					ops := rawOps(t, v.file)
					did := log[0].DID
					dir, clock, srv := newTestDirectory(t, mk())
					if log[0].Operation.Type == TypeCreate {
						// The reference refuses legacy create operations on
						// submission (400); mirrors import them.
						clock.Set(mustTime(t, log[0].CreatedAt))
						if code, body := post(t, srv, did, ops[0]); code != http.StatusBadRequest {
							t.Fatalf("legacy create: %d %s", code, body)
						}
						if err := dir.Import(context.Background(), log); err != nil {
							t.Fatal(err)
						}
					} else {
						for i, op := range ops {
							clock.Set(mustTime(t, log[i].CreatedAt))
							if code, body := post(t, srv, did, op); code != http.StatusOK {
								t.Fatalf("op %d: %d %s", i, code, body)
							}
						}
					}
					code, body := get(t, srv, "/"+did+"/log/audit")
					if code != http.StatusOK {
						t.Fatalf("audit: %d", code)
					}
					var got []LogEntry
					if err := json.Unmarshal(body, &got); err != nil {
						t.Fatal(err)
					}
					if len(got) != len(log) {
						t.Fatalf("audit log has %d entries, want %d", len(got), len(log))
					}
					for i := range got {
						if got[i].CID != log[i].CID || got[i].Nullified != log[i].Nullified || got[i].CreatedAt != log[i].CreatedAt || got[i].DID != did {
							t.Fatalf("entry %d: %+v want %+v", i, got[i], log[i])
						}
					}
					code, body = get(t, srv, "/"+did)
					if v.tombstoned {
						if code != http.StatusGone {
							t.Fatalf("tombstoned doc: %d", code)
						}
						return
					}
					if code != http.StatusOK {
						t.Fatalf("doc: %d %s", code, body)
					}
					s, err := ValidateAuditLog(did, log, ValidateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					want, _ := json.Marshal(s.Data().Document())
					if !bytes.Equal(body, want) {
						t.Fatalf("doc %s\nwant %s", body, want)
					}
					code, body = get(t, srv, "/"+did+"/log/last")
					var last Op
					if code != http.StatusOK || json.Unmarshal(body, &last) != nil {
						t.Fatalf("last: %d %s", code, body)
					}
					if c, _ := last.CID(); c.String() != log[v.head].CID {
						t.Fatalf("last op %s, want %s", c, log[v.head].CID)
					}
				})
			}
			for _, v := range invalidVectors {
				t.Run(v.file, func(t *testing.T) {
					log := loadLog(t, v.file)
					ops := rawOps(t, v.file)
					_, clock, srv := newTestDirectory(t, mk())
					for i := 0; i <= v.index; i++ {
						clock.Set(mustTime(t, log[i].CreatedAt))
						code, body := post(t, srv, log[0].DID, ops[i])
						want := http.StatusOK
						if i == v.index {
							want = http.StatusBadRequest
						}
						if code != want {
							t.Fatalf("op %d: %d %s, want %d", i, code, body, want)
						}
					}
				})
			}
		})
	}
}

func mustTime(t testing.TB, s string) time.Time {
	tm, err := ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestDirectoryNotFound(t *testing.T) {
	_, _, srv := newTestDirectory(t, nil)
	for _, p := range []string{"/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/data", "/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/log", "/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/log/audit", "/did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/log/last"} {
		if code, _ := get(t, srv, p); code != http.StatusNotFound {
			t.Fatalf("%s: %d", p, code)
		}
	}
	if code, _ := get(t, srv, "/export?count=0"); code != http.StatusBadRequest {
		t.Fatalf("count=0: %d", code)
	}
	if code, _ := get(t, srv, "/export?after=yesterday"); code != http.StatusBadRequest {
		t.Fatalf("bad after: %d", code)
	}
	if code, _ := post(t, srv, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", []byte(`{"type":"plc_operation"`)); code != http.StatusBadRequest {
		t.Fatalf("bad json: %d", code)
	}
	if code, _ := post(t, srv, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", bytes.Repeat([]byte(" "), MaxOpJSONBytes+1)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("huge body: %d", code)
	}
}

// staleStorage hides the last operation of every log from AuditLog, as if
// another writer had committed it after the directory read the log.
type staleStorage struct{ Storage }

func (s staleStorage) AuditLog(ctx context.Context, did string) ([]StoredOp, error) {
	ops, err := s.Storage.AuditLog(ctx, did)
	if len(ops) > 1 {
		ops = ops[:len(ops)-1]
	}
	return ops, err
}

func TestDirectoryConflict(t *testing.T) {
	log := loadLog(t, "log_nullification_at_exactly_72h.json")
	ops := rawOps(t, "log_nullification_at_exactly_72h.json")
	mem := NewMemoryStorage()
	_, clock, srv := newTestDirectory(t, mem)
	for i := 0; i < 2; i++ {
		clock.Set(mustTime(t, log[i].CreatedAt))
		if code, body := post(t, srv, log[0].DID, ops[i]); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	// A second directory on the same storage that has not seen op 1
	// builds op 1 again on the genesis: storage refuses it with 409.
	_, clock2, srv2 := newTestDirectory(t, staleStorage{mem})
	clock2.Set(mustTime(t, log[1].CreatedAt).Add(time.Second))
	code, body := post(t, srv2, log[0].DID, ops[1])
	if code != http.StatusConflict {
		t.Fatalf("got %d %s, want 409", code, body)
	}
}

func TestDirectoryExportAndClient(t *testing.T) {
	ctx := context.Background()
	for name, mk := range storages(t) {
		t.Run(name, func(t *testing.T) {
			_, clock, srv := newTestDirectory(t, mk())
			c := srv.client(ClientOptions{Timeout: 5 * time.Second})
			var all []LogEntry
			for _, f := range []string{"log_nullification_nontrivial.json", "log_tombstone.json", "log_bskyapp.json"} {
				log := loadLog(t, f)
				for i := range log {
					clock.Set(mustTime(t, log[i].CreatedAt))
					op := log[i].Operation
					if err := c.Submit(ctx, log[i].DID, &op); err != nil {
						t.Fatalf("%s %d: %v", f, i, err)
					}
				}
				all = append(all, log...)
			}
			// Paged sequenced export returns every operation once, in order.
			var got []ExportEntry
			after := int64(0)
			for {
				page, err := c.Export(ctx, ExportOptions{After: after, Count: 3})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = page[len(page)-1].Seq
			}
			if len(got) != len(all) {
				t.Fatalf("export has %d ops, want %d", len(got), len(all))
			}
			var each []ExportEntry
			lastSeq, err := c.ExportEach(ctx, 0, func(e ExportEntry) error { each = append(each, e); return nil })
			if err != nil || len(each) != len(all) || lastSeq != int64(len(all)) {
				t.Fatalf("ExportEach: %d entries, last %d, %v", len(each), lastSeq, err)
			}
			if last2, err := c.ExportEach(ctx, lastSeq, func(ExportEntry) error { t.Fatal("nothing new expected"); return nil }); err != nil || last2 != lastSeq {
				t.Fatalf("resume: %d %v", last2, err)
			}
			for i := range got {
				if got[i].CID != all[i].CID || got[i].DID != all[i].DID || got[i].Seq != int64(i+1) || got[i].CreatedAt != all[i].CreatedAt {
					t.Fatalf("export %d: %+v", i, got[i])
				}
			}
			// Legacy export: by createdAt, with nullified flags.
			code, body := get(t, srv, "/export?count=1000")
			lines := strings.Split(string(body), "\n")
			if code != 200 || len(lines) != len(all) {
				t.Fatalf("legacy export: %d, %d lines", code, len(lines))
			}
			var first ExportEntry
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Nullified == nil || first.Type != "" {
				t.Fatalf("legacy line %s: %v", lines[0], err)
			}

			bsky := loadLog(t, "log_bskyapp.json")
			did := bsky[0].DID
			doc, err := c.Resolve(ctx, did)
			if err != nil || doc.ID != did || doc.AlsoKnownAs[0] != "at://bsky.app" {
				t.Fatalf("resolve: %+v %v", doc, err)
			}
			data, err := c.Data(ctx, did)
			if err != nil || data.PDSEndpoint() != "https://bsky.social" {
				t.Fatalf("data: %+v %v", data, err)
			}
			ops, err := c.OpLog(ctx, did)
			if err != nil || len(ops) != 2 {
				t.Fatalf("oplog: %d %v", len(ops), err)
			}
			last, err := c.LastOp(ctx, did)
			if err != nil || !reflect.DeepEqual(*last, bsky[1].Operation) {
				t.Fatalf("last: %v", err)
			}
			key, endpoint, err := ResolveAtproto(ctx, c, did)
			if err != nil || key.DIDKey() != bsky[1].Operation.VerificationMethods["atproto"] || endpoint != "https://bsky.social" {
				t.Fatalf("signing key: %v %s %v", key, endpoint, err)
			}
			// Typed errors: 404, 410, 400.
			if _, err := c.Resolve(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("404: %v", err)
			}
			tomb := loadLog(t, "log_tombstone.json")
			if _, err := c.Resolve(ctx, tomb[0].DID); !errors.Is(err, ErrGone) {
				t.Fatalf("410: %v", err)
			}
			var he *HTTPError
			op := bsky[1].Operation
			if err := c.Submit(ctx, did, &op); !errors.Is(err, ErrRejected) || !errors.As(err, &he) || he.Status != 400 || he.Message == "" {
				t.Fatalf("400: %v", err)
			}
		})
	}
}

// TestClientStatusErrors checks the mapping of 409 and 429 (which the
// embeddable directory only gives on a race or never) with a handler that
// answers them directly.
func TestClientStatusErrors(t *testing.T) {
	srv := newTestServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/did:plc:conflict":
			writeError(w, http.StatusConflict, "prev does not match")
		case "/did:plc:busy":
			w.Header().Set("Retry-After", "7")
			writeError(w, http.StatusTooManyRequests, "slow down")
		case "/did:plc:slow":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	ctx := context.Background()
	c := srv.client(ClientOptions{Timeout: 200 * time.Millisecond})
	var he *HTTPError
	if _, err := c.Resolve(ctx, "did:plc:conflict"); !errors.Is(err, ErrConflict) {
		t.Fatalf("409: %v", err)
	}
	if _, err := c.Resolve(ctx, "did:plc:busy"); !errors.Is(err, ErrRateLimited) || !errors.As(err, &he) || he.RetryAfter != 7*time.Second {
		t.Fatalf("429: %v", err)
	}
	if _, err := c.Resolve(ctx, "did:plc:other"); !errors.Is(err, ErrUnexpectedStatus) {
		t.Fatalf("418: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Resolve(cctx, "did:plc:slow"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// corruptStorage reports a nonsense signer index for every operation.
type corruptStorage struct{ Storage }

func (s corruptStorage) AuditLog(ctx context.Context, did string) ([]StoredOp, error) {
	ops, err := s.Storage.AuditLog(ctx, did)
	for i := range ops {
		ops[i].KeyIndex = -1
	}
	return ops, err
}

func TestDirectoryCorruptStorage(t *testing.T) {
	log := loadLog(t, "log_bskyapp.json")
	mem := NewMemoryStorage()
	dir, _, _ := newTestDirectory(t, mem)
	if err := dir.Import(context.Background(), log); err != nil {
		t.Fatal(err)
	}
	bad, _, srv := newTestDirectory(t, corruptStorage{mem})
	if _, err := bad.State(context.Background(), log[0].DID); !errors.Is(err, ErrSigInvalid) {
		t.Fatalf("state from corrupt storage: %v", err)
	}
	if code, _ := get(t, srv, "/"+log[0].DID); code != http.StatusInternalServerError {
		t.Fatalf("GET on corrupt storage: %d", code)
	}
}

// TestDirectoryImportExisting: importing a DID the directory already holds
// (imported, or submitted) is refused with ErrAlreadyExists, not as a lost
// race (ErrConflict), and before the log's signatures are looked at;
// storage is left unchanged.
func TestDirectoryImportExisting(t *testing.T) {
	ctx := context.Background()
	log := loadLog(t, "log_bskyapp.json")
	dir, _, _ := newTestDirectory(t, nil)
	if err := dir.Import(ctx, log); err != nil {
		t.Fatal(err)
	}
	err := dir.Import(ctx, log)
	if !errors.Is(err, ErrAlreadyExists) || errors.Is(err, ErrConflict) {
		t.Fatalf("second import: %v, want ErrAlreadyExists", err)
	}
	// A tampered copy of a known DID's log: the DID is known, so the
	// answer is ErrAlreadyExists, not a signature error.
	tampered := slices.Clone(log)
	tampered[1].Operation.Sig = "AAAA"
	if err := dir.Import(ctx, tampered); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("import of a tampered known log: %v, want ErrAlreadyExists", err)
	}
	if s, err := dir.State(ctx, log[0].DID); err != nil || s.Len() != len(log) {
		t.Fatalf("state after refused imports: %v", err)
	}

	// A DID created by Submit cannot be imported over either.
	host, rec := newKey(t, true), newKey(t, true)
	g, did, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{rec.did}, HostRotationKey: host.did, SigningKey: host.did, Endpoint: "https://a.test"}, host.priv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := dir.Submit(ctx, did, g)
	if err != nil {
		t.Fatal(err)
	}
	entry := LogEntry{DID: did, Operation: *g, CID: res.CID, CreatedAt: FormatTime(res.CreatedAt)}
	if err := dir.Import(ctx, []LogEntry{entry}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("import over a submitted DID: %v, want ErrAlreadyExists", err)
	}
}

// TestDirectoryImportMixedDIDs: every entry of an imported log must name
// the DID of the first; the offending entry is named.
func TestDirectoryImportMixedDIDs(t *testing.T) {
	log := loadLog(t, "log_bskyapp.json")
	mixed := slices.Clone(log)
	mixed[1].DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
	dir, _, _ := newTestDirectory(t, nil)
	err := dir.Import(context.Background(), mixed)
	var oe *OpError
	if !errors.Is(err, ErrDIDMismatch) || !errors.As(err, &oe) || oe.Index != 1 {
		t.Fatalf("import of a log with two DIDs: %v, want ErrDIDMismatch at entry 1", err)
	}
	for _, d := range []string{log[0].DID, mixed[1].DID} {
		if _, err := dir.State(context.Background(), d); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s after the refused import: %v", d, err)
		}
	}
}

// TestDirectoryPolicyOverHTTP: operations over the policy's limits are
// refused with 400 before any signature is checked.
func TestDirectoryPolicyOverHTTP(t *testing.T) {
	_, _, srv := newTestDirectory(t, nil)
	k := newKey(t, true)
	op := &Op{Type: TypeOperation, RotationKeys: []string{k.did}, VerificationMethods: map[string]string{},
		AlsoKnownAs: []string{"at://a", "at://a"}, Services: map[string]Service{}}
	did, _ := func() (string, error) { Sign(op, k.priv); return op.DID() }()
	body, _ := json.Marshal(op)
	code, msg := post(t, srv, did, body)
	if code != http.StatusBadRequest || !strings.Contains(msg, "duplicate") {
		t.Fatalf("duplicate alsoKnownAs: %d %s", code, msg)
	}
	op.AlsoKnownAs = []string{"at://a"}
	Sign(op, k.priv)
	did, _ = op.DID()
	body, _ = json.Marshal(op)
	if code, msg := post(t, srv, did, body); code != http.StatusOK {
		t.Fatalf("valid genesis: %d %s", code, msg)
	}
	// Resubmitting the same genesis is refused.
	if code, _ := post(t, srv, did, body); code != http.StatusBadRequest {
		t.Fatalf("second genesis: %d", code)
	}
	// A genesis posted under another DID is refused.
	if code, _ := post(t, srv, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", body); code != http.StatusBadRequest {
		t.Fatalf("genesis under the wrong DID: %d", code)
	}
}

// TestDirectorySameMillisecond: two updates at one clock reading get
// consecutive timestamps and the log stays valid.
func TestDirectorySameMillisecond(t *testing.T) {
	dir, _, _ := newTestDirectory(t, nil)
	ctx := context.Background()
	host, rec := newKey(t, true), newKey(t, true)
	g, did, _ := NewGenesis(GenesisOptions{RecoveryKeys: []string{rec.did}, HostRotationKey: host.did, SigningKey: host.did, Endpoint: "https://a.test"}, host.priv)
	if _, err := dir.Submit(ctx, did, g); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s, _ := dir.State(ctx, did)
		op, _ := Update(s, UpdateOptions{AlsoKnownAs: []string{fmt.Sprint("at://", i, ".test")}}, host.priv)
		if _, err := dir.Submit(ctx, did, op); err != nil {
			t.Fatalf("update %d at the same instant: %v", i, err)
		}
	}
	s, _ := dir.State(ctx, did)
	e := s.Entries()
	if _, err := ValidateAuditLog(did, e, ValidateOptions{}); err != nil || e[3].CreatedAt != "2026-01-01T00:00:00.003Z" {
		t.Fatalf("%v %s", err, e[3].CreatedAt)
	}
}
