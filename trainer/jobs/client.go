package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errors of the client, besides the manager's ErrNotFound, ErrFinished and
// ErrClosed, which an *APIError matches too; callers test with errors.Is.
var (
	// ErrUnauthorized: the API refused the request for a missing or
	// invalid bearer token (HTTP 401).
	ErrUnauthorized = errors.New("jobs: missing or invalid bearer token")
	// ErrUnreachable: nothing answers at the client's URL (no driver
	// listens there, or its host cannot be reached).
	ErrUnreachable = errors.New("jobs: no driver answers")
)

// ClientConfig configures a Client. Zero fields take the defaults given.
type ClientConfig struct {
	// URL is where the job API listens, the driver's --http address:
	// http://HOST:PORT, https://HOST:PORT, or HOST:PORT for http. Required.
	URL string
	// Token is the bearer token the API asks for (the cluster secret);
	// "" sends none.
	Token string
	// HTTPClient sends the requests; nil means a new http.Client. To trust
	// the certificate of an https:// URL, set its Transport's
	// TLSClientConfig.RootCAs. Its Timeout, if any, must outlast a job:
	// Follow reads one response for as long as the job runs.
	HTTPClient *http.Client
	// ReconnectWait is how long Follow waits before following a job again
	// after its event stream broke. 0 means 1 s.
	ReconnectWait time.Duration
	// ReconnectTries bounds how many times in a row following a job may
	// fail (a driver restarting, a dropped connection) before Follow gives
	// up. 0 means 60: a minute of driver downtime with the default wait.
	ReconnectTries int
}

// Client talks to a driver's job API (see API and docs/driver.md). A
// Client is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port
	token string
	http  *http.Client
	wait  time.Duration
	tries int
}

// NewClient returns a client of the API at cfg.URL; it fails only when the
// URL is not of a form ClientConfig.URL allows. It connects to nothing.
func NewClient(cfg ClientConfig) (*Client, error) {
	raw := cfg.URL
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("jobs: URL %q: want http://HOST:PORT or https://HOST:PORT (the driver's --http address)", cfg.URL)
	}
	c := &Client{base: u.Scheme + "://" + u.Host, token: cfg.Token, http: cfg.HTTPClient, wait: cfg.ReconnectWait, tries: cfg.ReconnectTries}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.wait == 0 {
		c.wait = time.Second
	}
	if c.tries == 0 {
		c.tries = 60
	}
	return c, nil
}

// URL is the API's base URL, scheme://host:port.
func (c *Client) URL() string { return c.base }

// APIError is an error answer of the job API. It matches, with errors.Is,
// ErrUnauthorized (401), ErrNotFound (404: no such job, or no such route
// at a URL that is not a job API), ErrFinished (409) and ErrClosed (503).
type APIError struct {
	URL        string // the API's base URL
	StatusCode int
	Body       ErrorBody
}

// Error is the API's message, with every problem of a spec that does not
// validate on a line of its own.
func (e *APIError) Error() string {
	if len(e.Body.Problems) > 0 {
		return e.Body.Error + ":\n  " + strings.Join(e.Body.Problems, "\n  ")
	}
	return fmt.Sprintf("driver %s: %s (HTTP %d)", e.URL, e.Body.Error, e.StatusCode)
}

// Is reports whether the status stands for target.
func (e *APIError) Is(target error) bool {
	switch e.StatusCode {
	case http.StatusUnauthorized:
		return target == ErrUnauthorized
	case http.StatusNotFound:
		return target == ErrNotFound
	case http.StatusConflict:
		return target == ErrFinished
	case http.StatusServiceUnavailable:
		return target == ErrClosed
	}
	return false
}

// unreachableError is a request that found no driver to answer it.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("no driver answers at %s (%v); start one with flint driver --http ADDR", e.url, e.err)
}

func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
func (e *unreachableError) Unwrap() error        { return e.err }

// do sends a request; an answer other than 2xx becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path, contentType string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && ctx.Err() == nil {
			return nil, &unreachableError{url: c.base, err: op.Err}
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		e := &APIError{URL: c.base, StatusCode: resp.StatusCode}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e.Body) != nil || e.Body.Error == "" {
			e.Body.Error = strings.TrimSpace(string(data))
		}
		return nil, e
	}
	return resp, nil
}

// get sends a request and decodes the JSON answer into out.
func (c *Client) get(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	resp, err := c.do(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("driver %s: %s %s: decode the answer: %w", c.base, method, path, err)
	}
	return nil
}

// Submit queues a job: spec is its YAML text, name the file name its
// problems are reported against ("" means job.yaml). A spec that does not
// validate gives an *APIError listing every problem.
func (c *Client) Submit(ctx context.Context, name string, spec []byte) (Job, error) {
	var j Job
	err := c.get(ctx, http.MethodPost, "/v1/jobs?name="+url.QueryEscape(name), "application/yaml", spec, &j)
	return j, err
}

// Get returns the job with this id, with its spec.
func (c *Client) Get(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.get(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), "", nil, &j)
	return j, err
}

// List returns the jobs, newest first, without their specs; state ""
// means all of them, else only those in that state.
func (c *Client) List(ctx context.Context, state State) ([]Job, error) {
	path := "/v1/jobs"
	if state != "" {
		path += "?state=" + url.QueryEscape(string(state))
	}
	var l List
	err := c.get(ctx, http.MethodGet, path, "", nil, &l)
	return l.Jobs, err
}

// Cancel cancels a job and returns it as it is then: canceled, or still
// running while it stops (see Manager.Cancel). A finished job gives an
// error matching ErrFinished.
func (c *Client) Cancel(ctx context.Context, id string) (Job, error) {
	var j Job
	err := c.get(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), "", nil, &j)
	return j, err
}

// Fire asks the driver's triggered job name for a run now (see
// Manager.Fire), saying why.
func (c *Client) Fire(ctx context.Context, name, reason string) error {
	body, err := json.Marshal(FireRequest{Reason: reason})
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/triggers/"+url.PathEscape(name)+"/fire", "application/json", body)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Workers returns the cluster's worker processes.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var wl WorkerList
	err := c.get(ctx, http.MethodGet, "/v1/workers", "", nil, &wl)
	return wl.Workers, err
}

// errStreamEnded: the event stream ended before the job did (the driver is
// shutting down or restarting).
var errStreamEnded = errors.New("the driver ended the event stream before the job ended")

// Follow streams the job's states until it ends and returns its final
// state. It calls fn with every state that differs from the one before
// (the stream repeats a state to keep the connection alive, and again when
// Follow reconnects). When the stream breaks — the driver restarting,
// which resumes the job, or a dropped connection — Follow connects again,
// ReconnectWait apart, and calls lost (unless nil) at the first failure of
// a run of them. It gives up after ReconnectTries failures in a row, and at
// once on an answer that waiting will not change (ErrNotFound,
// ErrUnauthorized). If ctx ends first it returns the last state seen and
// ctx's error.
func (c *Client) Follow(ctx context.Context, id string, fn func(Job), lost func(error)) (Job, error) {
	var last Job
	var lastLine []byte
	for failures := 0; ; {
		got := false
		err := c.stream(ctx, id, func(line []byte) error {
			if bytes.Equal(line, lastLine) {
				return nil
			}
			var j Job
			if err := json.Unmarshal(line, &j); err != nil {
				return fmt.Errorf("driver %s: event of job %s: %w", c.base, id, err)
			}
			last, lastLine, got = j, append(lastLine[:0], line...), true
			fn(j)
			return nil
		})
		if last.State.Final() {
			return last, nil
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode != http.StatusServiceUnavailable && ae.StatusCode != http.StatusBadGateway {
			return last, err // not found, unauthorized: waiting will not help
		}
		if got {
			failures = 0
		}
		if failures++; failures > c.tries {
			return last, fmt.Errorf("lost the driver at %s following job %s: %w", c.base, id, err)
		}
		if failures == 1 && lost != nil {
			lost(err)
		}
		t := time.NewTimer(c.wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// stream reads the job's event stream, calling fn with each line, until
// the stream ends (errStreamEnded, unless the last state was final: the
// caller tells) or fn fails.
func (c *Client) stream(ctx context.Context, id string, fn func(line []byte) error) error {
	resp, err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/events", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errStreamEnded
}
