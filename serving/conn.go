package serving

import (
	"bytes"
	"net"
	"strconv"
)

// rejectedRoute is the route label of the requests net/http refuses
// before any handler sees them (a malformed request line or header, a
// header over MaxHeaderBytes, an unsupported Transfer-Encoding, ...).
const rejectedRoute = "rejected by net/http"

// countingListener wraps the plain-HTTP listener so that the requests
// net/http answers itself reach the metrics. net/http writes those answers
// straight to the connection, in one write that starts with the status
// line followed by exactly netHTTPErrorHeaders, which no handler's
// response can produce (net/http writes a handler's headers sorted, with a
// Date).
//
// Every accepted connection's deadlines go to the reaper r (see
// deadlineConn); count is false for TLS, whose bytes on the wire are not
// net/http's.
type countingListener struct {
	net.Listener
	m     *metrics
	r     *reaper
	count bool
}

// netHTTPErrorHeaders are the headers net/http sends with its own errors.
var netHTTPErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := l.r.wrap(c)
	if !l.count {
		return dc, nil
	}
	return &countingConn{Conn: dc, m: l.m}, nil
}

type countingConn struct {
	net.Conn
	m *metrics
}

func (c *countingConn) Write(p []byte) (int, error) {
	if len(p) < 512 && bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		if i := bytes.Index(p, []byte("\r\n")); i > 12 && bytes.HasPrefix(p[i:], netHTTPErrorHeaders) {
			if code, err := strconv.Atoi(string(p[9:12])); err == nil {
				c.m.requests.WithLabelValues(rejectedRoute, "", "", codeLabel(code)).Inc()
			}
		}
	}
	return c.Conn.Write(p)
}

// CloseWrite half-closes the connection when it can, as net/http does
// after refusing a request whose sender is still writing.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
