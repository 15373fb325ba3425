package serving

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// inflight bounds the request body bytes the server holds at once
// (Config.MaxInFlightBytes), so that many large requests in parallel
// cannot exhaust its memory: a request that would go over is answered 503
// with Retry-After.
type inflight struct {
	max  int64
	used atomic.Int64
}

// acquire reserves n bytes, or reports false when that would go over.
func (f *inflight) acquire(n int64) bool {
	if f.used.Add(n) > f.max {
		f.used.Add(-n)
		return false
	}
	return true
}

func (f *inflight) release(n int64) { f.used.Add(-n) }

// minReserve is the least a body reserves at a time.
const minReserve = 64 << 10

// checkContentType accepts no Content-Type, or JSON (application/json or
// a +json type) in UTF-8.
func checkContentType(ct string) error {
	switch ct {
	case "", "application/json", "application/json; charset=utf-8":
		return nil // what clients send, without parsing it into a map
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %q is not a media type (%v); send application/json", ct, err)
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return errorf(http.StatusUnsupportedMediaType, "Content-Type %s is not accepted; send application/json", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errorf(http.StatusUnsupportedMediaType, "charset %s is not accepted; send UTF-8 JSON", cs)
	}
	return nil
}

// limitedReader reads at most n bytes of r; past that it fails with err.
type limitedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// firstValue is h.Get(key) for a key already in canonical form.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readBody reads the request body into a pooled buffer: at most
// Config.MaxBodyBytes (after decompression, for Content-Encoding gzip),
// counted against Config.MaxInFlightBytes until held.release is called,
// once the response is written. A Content-Type other than JSON, or a
// Content-Encoding other than gzip or identity, gets 415.
func (s *Server) readBody(r *http.Request) (body []byte, held heldBody, err error) {
	limit := s.cfg.MaxBodyBytes
	tooLarge := func(what string) error {
		return errorf(http.StatusRequestEntityTooLarge, "request body%s larger than %d bytes (the server's limit)", what, limit)
	}
	// The header map is read by its canonical keys, as net/http stores
	// them: Header.Get would canonicalise the key again on every request.
	if err := checkContentType(firstValue(r.Header, "Content-Type")); err != nil {
		return nil, heldBody{}, err
	}
	if r.ContentLength > limit {
		return nil, heldBody{}, tooLarge("")
	}
	var src io.Reader = r.Body
	decompressed := ""
	switch enc := strings.ToLower(strings.TrimSpace(firstValue(r.Header, "Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(&limitedReader{r: r.Body, n: limit, err: tooLarge(" (compressed)")})
		if err != nil {
			return nil, heldBody{}, bodyError(err, "the gzip body")
		}
		defer zr.Close()
		src, decompressed = zr, " (decompressed)"
	default:
		return nil, heldBody{}, errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q is not accepted; send gzip or no encoding", enc)
	}

	h := heldBody{s: s}
	if err := h.reserve(max(r.ContentLength, 0) + 1); err != nil { // +1: the read that sees EOF
		return nil, heldBody{}, err
	}
	h.bp = s.bodies.Get().(*[]byte)
	b := (*h.bp)[:0]
	fail := func(err error) ([]byte, heldBody, error) {
		h.b = b
		h.release()
		return nil, heldBody{}, err
	}
	if n := int(r.ContentLength); n > cap(b) && decompressed == "" {
		b = make([]byte, 0, n+1) // +1: the read that sees EOF needs room
	}
	for {
		if int64(len(b)) >= h.reserved {
			if err := h.reserve(int64(len(b)) + 1); err != nil {
				return fail(err)
			}
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := src.Read(b[len(b):min(cap(b), int(h.reserved))])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return fail(tooLarge(decompressed))
		}
		if err == io.EOF {
			h.b = b
			return b, h, nil
		}
		if err != nil {
			return fail(bodyError(err, "the request body"))
		}
	}
}

// heldBody is a request body readBody holds: its pooled buffer and the
// in-flight bytes it reserved, until release. A value, so that reading a
// body allocates nothing.
type heldBody struct {
	s        *Server
	bp       *[]byte
	b        []byte
	reserved int64
}

// reserve grows the reservation to need bytes (doubling, at least
// minReserve, at most the body limit + 1), or answers 503.
func (h *heldBody) reserve(need int64) error {
	if need <= h.reserved {
		return nil
	}
	s := h.s
	more := min(max(need, 2*h.reserved, minReserve), s.cfg.MaxBodyBytes+1) - h.reserved
	if !s.flight.acquire(more) {
		s.metrics.shed.Inc()
		return &requestError{Status: http.StatusServiceUnavailable, Row: -1, RetryAfter: 1,
			Msg: fmt.Sprintf("the server holds its limit of %d request bytes in flight; retry later", s.flight.max)}
	}
	h.reserved += more
	return nil
}

// release returns the buffer to the pool and the reservation.
func (h *heldBody) release() {
	if h.s == nil {
		return
	}
	h.s.putBody(h.bp, h.b)
	h.s.flight.release(h.reserved)
}

// bodyError is the error for a body that could not be read.
func bodyError(err error, what string) error {
	var re *requestError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &ne) && ne.Timeout():
		return &requestError{Status: http.StatusRequestTimeout, Row: -1, Close: true,
			Msg: "the request body did not arrive in time (the server's read timeout)"}
	}
	return badRequest("read %s: %v", what, err)
}

// putBody returns a body's buffer to the pool. Buffers up to
// MaxBodyBytes are kept: reusing them, rather than leaving one garbage
// buffer per large request, is what keeps the heap near the in-flight
// bound under a flood of large requests; what the pool holds is freed by
// the garbage collector when it goes unused.
func (s *Server) putBody(bp *[]byte, b []byte) {
	if bp == nil || int64(cap(b)) > s.cfg.MaxBodyBytes+1 {
		return
	}
	*bp = b[:0]
	s.bodies.Put(bp)
}
