package plc

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// HandlerTransport returns an http.RoundTripper that answers each request
// by calling h in process: no listener, no port, no network. It is how a
// Client talks to an embeddable Directory in tests, examples and the CLI:
//
//	dir := plc.NewDirectory(plc.DirectoryOptions{})
//	c := plc.NewClient("http://plc.local", plc.ClientOptions{
//		HTTPClient: &http.Client{Transport: plc.HandlerTransport(dir)},
//	})
//
// The URL's host is not resolved; it only becomes the request's Host. The
// handler runs on the caller's goroutine with the request's context, and
// its whole response is buffered before RoundTrip returns, so it does not
// suit handlers that stream without end. A request whose context is done
// before or while the handler runs gives the context's error, as a network
// transport would; a handler that panics gives an error wrapping
// ErrHandlerPanic instead of crashing the caller.
func HandlerTransport(h http.Handler) http.RoundTripper { return handlerTransport{h} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	// A RoundTripper must close the request body, and must not change
	// the request: the handler gets a server-side copy.
	if r.Body != nil {
		defer r.Body.Close()
	}
	ctx := r.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := r.Clone(ctx)
	if req.Body == nil {
		req.Body = http.NoBody
	}
	if req.Host == "" {
		req.Host = r.URL.Host
	}
	req.RequestURI = r.URL.RequestURI()
	req.RemoteAddr = "in-process:0"
	if req.Proto == "" {
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	}
	w := &bufferedResponse{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, fmt.Errorf("%w: %s %s: %v", ErrHandlerPanic, r.Method, r.URL.Path, p)
		}
	}()
	t.h.ServeHTTP(w, req)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return w.response(r), nil
}

// bufferedResponse is the http.ResponseWriter of HandlerTransport.
type bufferedResponse struct {
	header http.Header // what the handler sets
	sent   http.Header // header as of WriteHeader
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(code int) {
	if w.status != 0 || (code >= 100 && code < 200) {
		return // a second WriteHeader is ignored; 1xx are not final
	}
	w.status = code
	w.sent = w.header.Clone()
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

func (w *bufferedResponse) response(r *http.Request) *http.Response {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	h := w.sent
	body := w.body.Bytes()
	if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
		h.Set("Content-Type", http.DetectContentType(body))
	}
	if r.Method == http.MethodHead {
		body = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}
