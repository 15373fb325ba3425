package regevents

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flintml/flint/models"
)

// DefaultBacklog is how many changes a Hub keeps for clients that resume.
const DefaultBacklog = 1024

// DefaultKeepalive is how often a Hub writes a comment on an idle stream.
const DefaultKeepalive = 15 * time.Second

type change struct {
	seq      uint64
	model    string
	revision int64
}

// Hub fans a registry's changes out to server-sent-event streams. Create
// it with NewHub; it is an http.Handler and safe for concurrent use.
type Hub struct {
	// Keepalive is how often an idle stream gets a comment line. Set it
	// before serving; 0 means DefaultKeepalive.
	Keepalive time.Duration

	epoch string
	mu    sync.Mutex
	seq   uint64   // of the newest change
	ring  []change // the newest changes, oldest first, at most cap(ring)
	wake  chan struct{}
}

// NewHub returns a hub that reports the changes made through reg (see
// models.Registry.OnChange). reg may be nil: then only Publish feeds it.
func NewHub(reg *models.Registry) *Hub {
	var e [8]byte
	_, _ = rand.Read(e[:])
	h := &Hub{epoch: hex.EncodeToString(e[:]), ring: make([]change, 0, DefaultBacklog), wake: make(chan struct{})}
	if reg != nil {
		reg.OnChange(h.Publish)
	}
	return h
}

// Publish reports that model's manifest is now at revision. It never
// blocks.
func (h *Hub) Publish(model string, revision int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	if len(h.ring) == cap(h.ring) {
		copy(h.ring, h.ring[1:])
		h.ring = h.ring[:len(h.ring)-1]
	}
	h.ring = append(h.ring, change{seq: h.seq, model: model, revision: revision})
	close(h.wake)
	h.wake = make(chan struct{})
}

// since returns the changes after seq, the newest seq and a channel
// closed at the next change; ok is false when changes after seq have left
// the backlog.
func (h *Hub) since(seq uint64) (out []change, newest uint64, wake <-chan struct{}, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.seq {
		return nil, h.seq, h.wake, false
	}
	if seq < h.seq {
		if len(h.ring) == 0 || h.ring[0].seq > seq+1 {
			return nil, h.seq, h.wake, false
		}
		out = append(out, h.ring[seq+1-h.ring[0].seq:]...)
	}
	return out, h.seq, h.wake, true
}

// resumeFrom reads a Last-Event-ID of this hub's epoch.
func (h *Hub) resumeFrom(id string) (uint64, bool) {
	epoch, n, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

func (h *Hub) id(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// ServeHTTP streams the changes until the client goes away.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The stream outlives any server write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	keep := h.Keepalive
	if keep <= 0 {
		keep = DefaultKeepalive
	}
	tick := time.NewTicker(keep)
	defer tick.Stop()

	seq, resumed := h.resumeFrom(r.Header.Get("Last-Event-ID"))
	for {
		evs, newest, wake, ok := h.since(seq)
		if !resumed || !ok {
			if _, err := fmt.Fprintf(w, "id: %s\nevent: reset\ndata: {}\n\n", h.id(newest)); err != nil {
				return
			}
			seq, evs, resumed = newest, nil, true
		}
		for _, c := range evs {
			if _, err := fmt.Fprintf(w, "id: %s\nevent: change\ndata: {\"model\":%q,\"revision\":%d}\n\n", h.id(c.seq), c.model, c.revision); err != nil {
				return
			}
			seq = c.seq
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-wake:
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
