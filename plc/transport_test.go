package plc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// closeRecorder records whether RoundTrip closed the request body.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestHandlerTransport: requests reach the handler as a server would pass
// them (method, URI, Host, body, headers), the handler's status, headers
// and body come back, the request body is closed, and a done context or a
// panicking handler gives an error.
func TestHandlerTransport(t *testing.T) {
	var got struct {
		method, uri, host, body, ua string
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.uri, got.host, got.body, got.ua = r.Method, r.RequestURI, r.Host, string(b), r.Header.Get("User-Agent")
		switch r.URL.Path {
		case "/teapot":
			w.Header().Set("X-Kind", "tea")
			w.WriteHeader(http.StatusTeapot)
			w.Header().Set("X-Late", "ignored") // after WriteHeader: not sent
			w.WriteHeader(http.StatusOK)        // ignored
			io.WriteString(w, "short and stout")
		case "/html":
			io.WriteString(w, "<html><body>hi</body></html>") // implicit 200, sniffed type
		case "/wait":
			<-r.Context().Done()
		case "/panic":
			panic("boom")
		}
	})
	hc := &http.Client{Transport: HandlerTransport(h)}

	body := &closeRecorder{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest(http.MethodPost, "http://plc.test/teapot?x=1", body)
	req.Header.Set("User-Agent", "tester")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Status != "418 I'm a teapot" || string(b) != "short and stout" ||
		resp.Header.Get("X-Kind") != "tea" || resp.Header.Get("X-Late") != "" || resp.ContentLength != int64(len(b)) {
		t.Errorf("response: %s %q %v (length %d)", resp.Status, b, resp.Header, resp.ContentLength)
	}
	if got.method != "POST" || got.uri != "/teapot?x=1" || got.host != "plc.test" || got.body != "payload" || got.ua != "tester" {
		t.Errorf("the handler saw %+v", got)
	}
	if !body.closed {
		t.Error("the request body was not closed")
	}

	resp, err = hc.Get("http://plc.test/html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("implicit status and sniffed type: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://plc.test/wait", nil)
	if _, err := hc.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v, want context.Canceled", err)
	}

	if _, err := hc.Get("http://plc.test/panic"); !errors.Is(err, ErrHandlerPanic) || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panicking handler: %v, want ErrHandlerPanic", err)
	}
}

// TestHandlerTransportDirectory: a Client reaches an embeddable Directory
// through HandlerTransport, typed errors included.
func TestHandlerTransportDirectory(t *testing.T) {
	ctx := context.Background()
	dir := NewDirectory(DirectoryOptions{})
	c := NewClient("http://plc.local", ClientOptions{HTTPClient: &http.Client{Transport: HandlerTransport(dir)}})
	log := loadLog(t, "log_bskyapp.json")
	if err := dir.Import(ctx, log); err != nil {
		t.Fatal(err)
	}
	s, err := c.State(ctx, log[0].DID)
	if err != nil || s.Len() != len(log) {
		t.Fatalf("State through HandlerTransport: %v", err)
	}
	if _, err := c.State(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown DID: %v, want ErrNotFound", err)
	}
}
