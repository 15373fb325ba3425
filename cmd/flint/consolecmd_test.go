package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// flint console serves the models of a store behind its tokens: a read
// token sees them and may not promote, no token sees the login page.
func TestConsoleCommand(t *testing.T) {
	dir := t.TempDir()
	store := "dir:" + filepath.Join(dir, "models")
	if out, stderr, err := run(t, "", "--store", store, "train", "-f", clicksJob(t, "cc")); err != nil {
		t.Fatalf("train: %v\n%s\n%s", err, out, stderr)
	}
	tokens := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte("read r-token\nadmin a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "--store", store, "--log", "dir:"+filepath.Join(dir, "log"), "console", "--addr", "127.0.0.1:0", "--tokens-file", tokens)
	base := strings.TrimSuffix(c.value(t, "console on "), "/")
	defer c.stop(t)

	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, token string, form url.Values) (int, string) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Accept", "text/html")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("GET", "/models/cc", "r-token", nil); code != 200 || !strings.Contains(body, `data-version="1"`) {
		t.Errorf("GET /console/models/cc with a read token: %d\n%s", code, body)
	}
	if code, _ := do("GET", "/models/cc", "", nil); code != http.StatusSeeOther {
		t.Errorf("GET /console/models/cc without a token: %d, want 303 to the login page", code)
	}
	form := url.Values{"alias": {"production"}, "version": {"1"}, "reason": {"test"}}
	if code, _ := do("POST", "/models/cc/promote", "r-token", form); code != http.StatusForbidden {
		t.Errorf("promote with a read token: %d, want 403", code)
	}
	if code, _ := do("POST", "/models/cc/promote", "a-token", form); code != http.StatusSeeOther {
		t.Errorf("promote with an admin token: %d, want 303", code)
	}
	if code, body := do("GET", "/models/cc", "r-token", nil); code != 200 || !strings.Contains(body, "console (admin token)") {
		t.Errorf("the alias history after an admin's promote lacks it:\n%s", body)
	}
}

// An empty tokens file is refused, naming the flag and the file, rather
// than leaving the console open.
func TestConsoleEmptyTokensFile(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(empty, []byte("# none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "", "--store", "dir:"+t.TempDir(), "console", "--addr", "127.0.0.1:0", "--tokens-file", empty)
	if err == nil || !strings.Contains(err.Error(), "--tokens-file "+empty+": no token in it") {
		t.Errorf("flint console with an empty tokens file: %v", err)
	}
}

// flint serve --console mounts the console beside the prediction API,
// behind the server's tokens, and its serving page shows the server's own
// traffic.
func TestServeConsole(t *testing.T) {
	dir := t.TempDir()
	store := "dir:" + filepath.Join(dir, "models")
	if out, stderr, err := run(t, "", "--store", store, "train", "-f", clicksJob(t, "sc")); err != nil {
		t.Fatalf("train: %v\n%s\n%s", err, out, stderr)
	}
	tokens := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte("read r-token\nadmin a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "--store", store, "serve", "--addr", "127.0.0.1:0", "--tokens-file", tokens, "--console", "--quiet")
	defer c.stop(t)
	var addr string // from the start-up line on stderr: "flint serve: http://ADDR (store …"
	deadline := time.Now().Add(2 * time.Minute)
	for addr == "" {
		if _, rest, ok := strings.Cut(c.stderr.String(), "flint serve: "); ok && strings.Contains(rest, " ") {
			addr, _, _ = strings.Cut(rest, " ")
		} else if time.Now().After(deadline) {
			t.Fatalf("flint serve printed no start-up line in 2 minutes:\n%s", c.stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", addr+path, nil)
		req.Header.Set("Accept", "text/html")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/console/models/sc", "r-token"); code != 200 || !strings.Contains(body, `data-version="1"`) {
		t.Errorf("GET /console/models/sc with a read token: %d\n%s", code, body)
	}
	if code, _ := get("/console/models/sc", ""); code != http.StatusSeeOther {
		t.Errorf("GET /console/models/sc without a token: %d, want 303 to the login page", code)
	}
	if code, body := get("/v1/models", "r-token"); code != 200 || !strings.Contains(body, `"sc"`) {
		t.Errorf("the prediction API beside the console: %d %s", code, body)
	}
	req, _ := http.NewRequest("POST", addr+"/v1/models/sc/predict", strings.NewReader(`{"row": {"x1": 1, "x2": 0}}`))
	req.Header.Set("Authorization", "Bearer r-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("predict: %d", resp.StatusCode)
	}
	// The serving page reads this server's /metrics (with a read token).
	if code, body := get("/console/serving", "r-token"); code != 200 || !strings.Contains(body, `<td>sc</td>`) {
		t.Errorf("the serving page does not show this server's request to sc: %d\n%s", code, body)
	}
}
