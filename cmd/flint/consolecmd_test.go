package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
