package jobs

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// get sends GET path with the Authorization header auth ("" for none).
func get(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// metricValue reads one sample of the Prometheus text format.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", series, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// k-means and ALS jobs report their iterations: the API shows progress,
// and /metrics counts the iterations and the jobs. /metrics needs the
// token; refused requests are counted, and logged once a minute per client.
func TestAPIProgressMetricsAndRefusals(t *testing.T) {
	logger, logs := newLogBuffer()
	reg := prometheus.NewRegistry()
	s := newAPIServer(t, ManagerConfig{}, APIConfig{Token: "s3cret", Metrics: reg, Logger: logger})
	specs := algorithmSpecs(t)
	for _, algo := range []string{"kmeans", "als"} {
		j := s.poll(t, s.submit(t, algo, specs[algo]).ID)
		if j.State != Succeeded || j.Progress == nil || j.Progress.Iter < 1 || j.Progress.MaxIter < j.Progress.Iter {
			t.Fatalf("%s job: state %s, progress %+v; want succeeded with its last iteration", algo, j.State, j.Progress)
		}
	}
	reg.MustRegister(s.m.Collector(), s.api.Collector()) // what flint driver registers

	for range 3 {
		if code, _ := get(t, s.url+"/v1/jobs", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Fatalf("a wrong token got %d", code)
		}
	}
	if code, _ := get(t, s.url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	code, text := get(t, s.url+"/metrics", "Bearer s3cret")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, text)
	}
	if n := metricValue(t, text, `flint_trainer_jobs{state="succeeded"}`); n != 2 {
		t.Errorf("%v succeeded jobs, want 2", n)
	}
	if n := metricValue(t, text, `flint_trainer_jobs{state="failed"}`); n != 0 {
		t.Errorf("%v failed jobs, want 0", n)
	}
	if n := metricValue(t, text, "flint_trainer_iterations_total"); n < 2 {
		t.Errorf("%v iterations counted, want at least one per job", n)
	}
	if n := metricValue(t, text, "flint_trainer_job_attempts_total"); n != 2 {
		t.Errorf("%v attempts, want 2", n)
	}
	if n := metricValue(t, text, `flint_trainer_job_duration_seconds_count{state="succeeded"}`); n != 2 {
		t.Errorf("%v job durations observed, want 2", n)
	}
	if n := metricValue(t, text, "flint_trainer_api_auth_refused_total"); n != 4 {
		t.Errorf("%v refused requests counted, want 4", n)
	}
	if n := strings.Count(logs.String(), "job API refused a request"); n != 1 || !strings.Contains(logs.String(), "remote=127.0.0.1") {
		t.Errorf("%d log lines about refused requests, want 1 naming the client:\n%s", n, logs.String())
	}
}
