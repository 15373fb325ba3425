package regevents

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Change is what a subscriber learns: model's manifest is at Revision or
// later, or, with Reset, that it may have missed changes and must read the
// whole registry again.
type Change struct {
	Model    string
	Revision int64
	Reset    bool
}

// Options configure Subscribe. Zero fields take the defaults their
// comments name.
type Options struct {
	// Client makes the requests. Default: a client without a timeout (the
	// stream is long-lived).
	Client *http.Client
	// Token, when set, is sent as a bearer token.
	Token string
	// MinBackoff and MaxBackoff bound the wait before a reconnection,
	// which doubles from the first to the second after each failure.
	// Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection failures. Default slog.Default().
	Logger *slog.Logger
}

// Subscribe follows the event stream at url until ctx ends, then closes
// the channel. It reconnects after any failure, resuming from the last
// event it saw; every connection that cannot resume begins with a Reset.
// A slow reader delays the stream, never drops from it.
func Subscribe(ctx context.Context, url string, opt Options) <-chan Change {
	if opt.Client == nil {
		opt.Client = &http.Client{}
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = 100 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	ch := make(chan Change)
	go func() {
		defer close(ch)
		last := ""
		wait := opt.MinBackoff
		for {
			got, err := stream(ctx, url, opt, &last, ch)
			if ctx.Err() != nil {
				return
			}
			if got {
				wait = opt.MinBackoff
			}
			opt.Logger.Warn("regevents: the registry event stream ended; reconnecting", "url", url, "err", err, "in", wait)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(2*wait, opt.MaxBackoff)
		}
	}()
	return ch
}

// stream reads one connection; got reports whether it delivered anything.
func stream(ctx context.Context, url string, opt Options, last *string, ch chan<- Change) (got bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	if opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opt.Token)
	}
	resp, err := opt.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, fmt.Errorf("GET %s: Content-Type %q, want text/event-stream", url, ct)
	}
	err = readEvents(resp.Body, func(ev event) error {
		c, err := ev.change()
		if err != nil {
			return err
		}
		select {
		case ch <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		got = true
		if ev.id != "" {
			*last = ev.id
		}
		return nil
	})
	if err == nil {
		err = io.ErrUnexpectedEOF // the server ended the stream
	}
	return got, err
}

// event is one server-sent event.
type event struct{ id, name, data string }

// change turns an event into a Change.
func (ev event) change() (Change, error) {
	switch ev.name {
	case "reset":
		return Change{Reset: true}, nil
	case "change":
		var d struct {
			Model    string `json:"model"`
			Revision int64  `json:"revision"`
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil || d.Model == "" {
			return Change{}, fmt.Errorf("change event %s: data %q: want {\"model\": NAME, \"revision\": N}", ev.id, ev.data)
		}
		return Change{Model: d.Model, Revision: d.Revision}, nil
	}
	return Change{}, fmt.Errorf("event %s: unknown event type %q (want change or reset)", ev.id, ev.name)
}

// maxLine bounds a line of the stream.
const maxLine = 64 << 10

// readEvents parses a text/event-stream body and calls fn for each event
// with a type or data; it returns fn's first error, or the read's, or nil
// at the end of the body.
func readEvents(r io.Reader, fn func(event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	var ev event
	var data []string
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" { // dispatch
			if ev.name != "" || len(data) > 0 {
				ev.data = strings.Join(data, "\n")
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = event{id: ev.id}, data[:0]
			continue
		}
		if l[0] == ':' {
			continue // a comment
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.id = value
		case "event":
			ev.name = value
		case "data":
			data = append(data, value)
		case "retry":
		default:
			return fmt.Errorf("event stream line %d: unknown field %q", line, field)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("event stream line %d: longer than %d bytes", line+1, maxLine)
		}
		return err
	}
	return nil
}
