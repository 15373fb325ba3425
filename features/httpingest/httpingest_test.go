package httpingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

var txSchema = features.Schema{Format: "json", IgnoreUnknown: true, Fields: []features.Field{
	{Name: "card", Type: features.Categorical},
	{Name: "at", Type: features.Timestamp},
	{Name: "amount", Type: features.Numeric, Optional: true},
}}

func setup(t *testing.T, token string) (*httptest.Server, log.Log) {
	t.Helper()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(t.TempDir(), "log"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Log: l, Topics: map[string]Topic{"tx": {Schema: txSchema, Key: "card"}}, MaxBodyBytes: 2048, Token: token,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, l
}

func post(t *testing.T, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Records are appended keyed by card, and the answer gives each one's
// partition and offset, which is where the log holds it.
func TestAppendAcknowledgesOffsets(t *testing.T) {
	ts, l := setup(t, "")
	code, body := post(t, ts.URL+"/v1/topics/tx/records",
		`{"records": [{"card": "c1", "at": 1780000000, "amount": 12.5}, {"card": "c2", "at": "2026-05-28T20:26:40Z"}, {"card": "c1", "at": 1780000060, "amount": 3, "label": 1}]}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got response
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Offsets) != 3 || got.Offsets[0].Partition != log.Partition([]byte("c1"), 3) || got.Offsets[2].Partition != got.Offsets[0].Partition ||
		got.Offsets[2].Offset != got.Offsets[0].Offset+1 {
		t.Fatalf("offsets %+v", got.Offsets)
	}
	recs, err := l.Read(context.Background(), "tx", got.Offsets[2].Partition, got.Offsets[2].Offset, log.ReadOptions{MaxRecords: 1})
	if err != nil || len(recs) != 1 || string(recs[0].Key) != "c1" || !strings.Contains(string(recs[0].Value), `"amount": 3`) {
		t.Fatalf("the log holds %v, %v", recs, err)
	}
}

// A request is all or nothing, and every refusal says why.
func TestRefusals(t *testing.T) {
	ts, l := setup(t, "s3cret")
	auth := []string{"Authorization", "Bearer s3cret"}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"records": [{"card": "c9", "at": 1780000000}]}`))
	zw.Close()
	for _, c := range []struct {
		name, path, body string
		hdr              []string
		code             int
		want             string
	}{
		{"no token", "tx", `{"records": [{"card": "c1", "at": 1}]}`, nil, 401, "needs a bearer token"},
		{"wrong token", "tx", `{"records": [{"card": "c1", "at": 1}]}`, []string{"Authorization", "Bearer nope"}, 401, "not valid"},
		{"bad record", "tx", `{"records": [{"card": "c1", "at": 1}, {"card": "c2", "at": "yesterday"}]}`, auth, 422, `records[1]: field \"at\"`},
		{"missing key", "tx", `{"records": [{"at": 1}]}`, auth, 422, `records[0]: field \"card\": missing`},
		{"unknown topic", "nope", `{"records": [{"card": "c1", "at": 1}]}`, auth, 404, `this process takes records for \"tx\"`},
		{"not records", "tx", `[{"card": "c1"}]`, auth, 400, `the body must be {\"records\"`},
		{"too big", "tx", `{"records": [` + strings.Repeat(`{"card": "c1", "at": 1},`, 200) + `{"card": "c1", "at": 1}]}`, auth, 413, "over 2048 bytes"},
		{"not JSON", "tx", `card=c1`, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, auth...), 415, "send application/json"},
		{"gzip", "tx", gz.String(), append([]string{"Content-Encoding", "gzip"}, auth...), 200, `"offsets"`},
	} {
		code, body := post(t, ts.URL+"/v1/topics/"+c.path+"/records", c.body, c.hdr...)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d and %q", c.name, code, body, c.code, c.want)
		}
	}
	// Only the gzip request appended.
	total := int64(0)
	for p := 0; p < 3; p++ {
		off, err := l.Offsets(context.Background(), "tx", p)
		if err != nil {
			t.Fatal(err)
		}
		total += off.Latest
	}
	if total != 1 {
		t.Errorf("the log holds %d records, want the gzip request's 1", total)
	}
}
