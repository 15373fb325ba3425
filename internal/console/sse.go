package console

import (
	"fmt"
	"net/http"
	"strings"
)

// sse writes server-sent events. A message's data is the target element's
// id, a newline, then the element's new HTML (console.js puts it in place).
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) (*sse, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "console: this connection cannot stream events", http.StatusInternalServerError)
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &sse{w: w, f: f}, true
}

// send replaces element id with html.
func (s *sse) send(id, html string) error {
	var b strings.Builder
	b.Grow(len(html) + 64)
	b.WriteString("data: ")
	b.WriteString(id)
	b.WriteByte('\n')
	for _, line := range strings.Split(html, "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimSuffix(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// event sends a named event.
func (s *sse) event(name, data string) error {
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}
