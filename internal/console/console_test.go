package console

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/trainer/jobs"
)

// get fetches path of the console with token (none if ""), not following
// redirects.
func (e *env) get(t *testing.T, method, path, token string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Without a token every page sends the browser to the login page, and
// no page shows data; a wrong token does not log in.
func TestNoTokenNoData(t *testing.T) {
	e := newEnv(t)
	e.publish(t, "secret-model", 1)
	for _, p := range []string{"/", "/jobs", "/jobs/x", "/models", "/models/secret-model", "/log", "/log/topics/t"} {
		resp, body := e.get(t, "GET", p, "", nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login?next=") {
			t.Errorf("GET %s without a token: %d to %q, want 303 to the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(body, "logreg") || strings.Contains(body, "auc") {
			t.Errorf("GET %s without a token shows the model's data: %s", p, body)
		}
	}
	resp, body := e.get(t, "GET", "/models", "not-a-token", nil)
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(body, "secret-model") || strings.Contains(body, "logreg") {
		t.Errorf("GET /models with a wrong token: %d, want 303 and no data", resp.StatusCode)
	}
	resp, _ = e.get(t, "POST", "/login", "", url.Values{"token": {"not-a-token"}, "next": {"/console/models"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("log in with a wrong token: %d, cookies %v; want 401 and none", resp.StatusCode, resp.Cookies())
	}
	resp, _ = e.get(t, "POST", "/login", "", url.Values{"token": {readToken}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Errorf("log in with next=//evil.example/: %d to %q, want 303 to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A read token sees the pages but the routes that change things refuse
// it; an admin token may use them.
func TestReadTokenCannotChange(t *testing.T) {
	e := newEnv(t)
	e.publish(t, "m", 2)
	e.hook.hold(2)
	j := e.submit(t, "held")
	defer e.hook.let()
	waitFor(t, func() bool { return e.hook.count(j.ID) >= 3 })

	for _, p := range []string{"/jobs/" + j.ID, "/models/m"} {
		resp, body := e.get(t, "GET", p, readToken, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s with a read token: %d", p, resp.StatusCode)
		}
		if strings.Contains(body, `id="cancel"`) || strings.Contains(body, `id="promote"`) {
			t.Errorf("GET %s with a read token shows a cancel or promote button", p)
		}
	}
	resp, _ := e.get(t, "POST", "/jobs/"+j.ID+"/cancel", readToken, url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cancel with a read token: %d, want 403", resp.StatusCode)
	}
	resp, _ = e.get(t, "POST", "/models/m/promote", readToken, url.Values{"alias": {"production"}, "version": {"1"}, "reason": {"r"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("promote with a read token: %d, want 403", resp.StatusCode)
	}
	if got, _ := e.m.Get(j.ID); got.CancelRequested {
		t.Error("the job was asked to stop by a read token")
	}
	if m, _ := e.reg.Describe(context.Background(), "m"); len(m.Aliases) != 0 {
		t.Errorf("aliases after a read token's promote: %v", m.Aliases)
	}

	_, body := e.get(t, "GET", "/jobs/"+j.ID, adminToken, nil)
	if !strings.Contains(body, `id="cancel"`) {
		t.Error("the job page shows an admin no cancel button")
	}
	resp, _ = e.get(t, "POST", "/jobs/"+j.ID+"/cancel", adminToken, url.Values{})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("cancel with an admin token: %d, want 303", resp.StatusCode)
	}
	e.hook.let()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got, err := e.m.Wait(ctx, j.ID); err != nil || got.State != jobs.Canceled {
		t.Errorf("the job after an admin's cancel: %v, %v; want canceled", got.State, err)
	}
}

// waitFor waits for cond, failing the test after a generous deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two versions side by side: each metric with its change, the lineage,
// and the spec lines that differ marked; a version that is not there is
// a 404 naming it.
func TestCompare(t *testing.T) {
	e := newEnv(t)
	e.publish(t, "m", 3)
	resp, body := e.get(t, "GET", "/models/m/compare?a=1&b=3", readToken, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("compare: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"<td>auc</td><td class=\"num\">0.7</td><td class=\"num\">0.766667</td><td class=\"num\">0.0666667</td>",
		`<tr class="diff"><td class="value">algorithm: {logistic_regression: {max_iter: 100}}</td><td class="value">algorithm: {logistic_regression: {max_iter: 102}}</td></tr>`,
		"log clicks/0 offsets [0, 300)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("compare page lacks %s", want)
		}
	}
	if strings.Count(body, `class="diff"`) != 1 {
		t.Errorf("%d spec lines marked as differing, want 1", strings.Count(body, `class="diff"`))
	}
	resp, body = e.get(t, "GET", "/models/m/compare?a=1&b=9", readToken, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "compare m v1 and v9") {
		t.Errorf("compare with a missing version: %d\n%s", resp.StatusCode, body)
	}
}
