package join_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/serving/predlog/join"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func openLog(t *testing.T, dir string) log.Log {
	t.Helper()
	l, err := disk.Open(disk.Config{Dir: dir, DefaultPartitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// predictions are the prediction log records of request id's rows, in
// format 1 (a record per row, as flint serve wrote them before format 2)
// or 2 (a record per request, {"rows": [...]}).
func predictions(format int, id string, at time.Time, rows ...string) []log.Record {
	if format == 1 {
		var recs []log.Record
		for i, fields := range rows {
			// The rows as sent, as the writer of format 1 copied them.
			v := predlog.AppendRow(nil, predlog.Record{ID: id, Row: i, Time: at, Model: "m", Version: 2,
				Fields: json.RawMessage(fields), Prediction: json.RawMessage(`{"value":1.5}`)})
			recs = append(recs, log.Record{Key: []byte(id), Value: v, Time: at})
		}
		return recs
	}
	preds := strings.Repeat(`{"value":1.5},`, len(rows))
	v := fmt.Appendf(nil, `{"v":2,"id":%q,"time":%q,"model":"m","version":2,"request":{"rows": [%s]},"response":{"model":"m","version":2,"predictions":[%s]}}`,
		id, at.Format(time.RFC3339Nano), strings.Join(rows, ", "), preds[:len(preds)-1])
	return []log.Record{{Key: []byte(id), Value: v, Time: at}}
}

// formats are the prediction log's record formats the joiner reads.
var formats = []int{1, 2}

func label(id string, row int, lab string, at time.Time) log.Record {
	return log.Record{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"row":%d,"label":%s}`, id, row, lab), Time: at}
}

func appendTo(t *testing.T, l log.Log, topic string, recs ...log.Record) {
	t.Helper()
	if err := l.Append(context.Background(), topic, recs); err != nil {
		t.Fatal(err)
	}
}

func readOut(t *testing.T, l log.Log, topic string) map[string]log.Record {
	t.Helper()
	ctx := context.Background()
	info, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]log.Record{}
	for _, p := range info.Partitions {
		for off := p.Earliest; off < p.Latest; {
			recs, err := l.Read(ctx, topic, p.ID, off, log.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				id := ""
				for _, h := range r.Headers {
					if h.Key == join.HeaderJoin {
						id = string(h.Value)
					}
				}
				if _, dup := out[id]; dup {
					t.Errorf("join %s appended twice", id)
				}
				out[id] = r
			}
			off = recs[len(recs)-1].Offset + 1
		}
	}
	return out
}

// run runs a joiner until cond holds of its stats, then stops it.
func run(t *testing.T, cfg join.Config, cond func(join.Stats) bool) join.Stats {
	t.Helper()
	cfg.PollWait = 20 * time.Millisecond
	j, err := join.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(j.Stats()) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("timed out; stats %+v", j.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := j.Stats()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

// backends are the real logs the joiner runs on: the embedded log and a
// Kafka-protocol broker (kfake) on loopback.
var backends = []struct {
	name string
	open func(t *testing.T) log.Log
}{
	{"disk", func(t *testing.T) log.Log { return openLog(t, t.TempDir()) }},
	{"kafka", func(t *testing.T) log.Log {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		l, err := kafka.New(context.Background(), kafka.Config{Brokers: c.ListenAddrs()})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}},
}

func TestJoin(t *testing.T) {
	for _, be := range backends {
		for _, f := range formats {
			t.Run(fmt.Sprintf("%s/format=%d", be.name, f), func(t *testing.T) { testJoin(t, be.open(t), f) })
		}
	}
}

func testJoin(t *testing.T, l log.Log, format int) {
	defer l.Close()
	for _, tp := range []string{"preds", "labels"} {
		if err := l.CreateTopic(context.Background(), tp, log.TopicConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(t, l, "labels",
		label("b", 0, `1`, t0.Add(time.Minute)),                        // before its prediction
		label("zz", 0, `"x"`, t0),                                      // no prediction ever
		log.Record{Value: []byte(`{"id":"q","label":null}`), Time: t0}) // malformed
	var preds []log.Record
	preds = append(preds, predictions(format, "a", t0, `{"x": 1, "label": "sent by the client"}`, `{"x": 2}`)...)
	preds = append(preds, predictions(format, "b", t0, `{}`)...)
	preds = append(preds, predictions(format, "c", t0, `{"x": 3}`)...)
	appendTo(t, l, "preds", preds...)
	appendTo(t, l, "labels", label("a", 0, `"yes"`, t0.Add(time.Hour)))
	cfg := join.Config{Log: l, Predictions: "preds", Labels: "labels", Out: "train", StateDir: t.TempDir(), Window: 2 * time.Hour}
	st := run(t, cfg, func(s join.Stats) bool { return s.Joined == 2 && s.Malformed == 1 })
	if st.ExpiredPredictions != 0 || st.UnmatchedLabels != 0 {
		t.Errorf("before the window closed: %+v", st)
	}
	// A record past the window closes it for everything older.
	appendTo(t, l, "labels", label("late", 0, `2`, t0.Add(3*time.Hour)))
	st = run(t, cfg, func(s join.Stats) bool { return s.ExpiredPredictions+s.UnmatchedLabels == 3 })
	if st.ExpiredPredictions != 2 || st.UnmatchedLabels != 1 || st.Joined != 0 {
		t.Errorf("after the window closed: %+v, want 2 expired predictions (a/1, c/0) and 1 unmatched label (zz)", st)
	}
	out := readOut(t, l, "train")
	// The fields as the client sent them (the same from either format).
	want := map[string]string{"a/0": `{"x": 1,"label":"yes"}`, "b/0": `{"label":1}`}
	if len(out) != len(want) {
		t.Errorf("out has %d records, want %d", len(out), len(want))
	}
	for id, v := range want {
		r, ok := out[id]
		if !ok {
			t.Errorf("no out record for %s", id)
			continue
		}
		if string(r.Value) != v || !r.Time.Equal(t0) || !strings.HasPrefix(id, string(r.Key)) {
			t.Errorf("out %s: key %s value %s time %v, want value %s at %v", id, r.Key, r.Value, r.Time, v, t0)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Errorf("out %s: %v", id, err)
		}
		hs := map[string]string{}
		for _, h := range r.Headers {
			hs[h.Key] = string(h.Value)
		}
		if hs[join.HeaderModel] != "m" || hs[join.HeaderVersion] != "2" || hs[join.HeaderPrediction] != `{"value":1.5}` {
			t.Errorf("out %s: headers %v", id, hs)
		}
	}
}

// TestJoinExactlyOnce: the store goes back to before a batch whose
// records were appended (a process killed between the append and the
// store's commit, with the group's offsets not committed either); the
// rerun re-derives the batch and appends none of its rows again.
func TestJoinExactlyOnce(t *testing.T) {
	for _, be := range backends {
		for _, f := range formats {
			t.Run(fmt.Sprintf("%s/format=%d", be.name, f), func(t *testing.T) { testJoinExactlyOnce(t, be.open(t), f) })
		}
	}
}

func testJoinExactlyOnce(t *testing.T, l log.Log, format int) {
	defer l.Close()
	for _, tp := range []string{"preds", "labels"} {
		if err := l.CreateTopic(context.Background(), tp, log.TopicConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	cfg := join.Config{Log: l, Predictions: "preds", Labels: "labels", Out: "train", StateDir: state, Group: "g1"}
	var preds, labels []log.Record
	for i := range 20 {
		preds = append(preds, predictions(format, fmt.Sprint("r", i), t0, fmt.Sprintf(`{"x":%d}`, i))...)
		labels = append(labels, label(fmt.Sprint("r", i), 0, fmt.Sprint(i%2), t0.Add(time.Second)))
	}
	appendTo(t, l, "preds", preds[:10]...)
	appendTo(t, l, "labels", labels[:10]...)
	run(t, cfg, func(s join.Stats) bool { return s.Joined == 10 })
	saved := t.TempDir()
	copyDir(t, state, saved)
	appendTo(t, l, "preds", preds[10:]...)
	appendTo(t, l, "labels", labels[10:]...)
	run(t, cfg, func(s join.Stats) bool { return s.Joined == 10 })
	if n := len(readOut(t, l, "train")); n != 20 {
		t.Fatalf("out has %d records, want 20", n)
	}
	// Back to the store of the first run, under a group that never
	// committed the second run's records.
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	copyDir(t, saved, state)
	cfg.Group = "g2"
	st := run(t, cfg, func(s join.Stats) bool { return s.Joined == 10 })
	if st.Joined != 10 || st.Malformed != 0 {
		t.Errorf("rerun: %+v", st)
	}
	if n := len(readOut(t, l, "train")); n != 20 { // readOut fails on a duplicate
		t.Errorf("out has %d records after the rerun, want 20", n)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCloseStopsRun: Close while Run joins in another goroutine (a
// deferred Close beside "go j.Run(ctx)") waits for Run to stop instead of
// closing the store under a step; Run then returns nil, and a Run after
// Close is an error.
func TestCloseStopsRun(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	for _, tp := range []string{"preds", "labels"} {
		if err := l.CreateTopic(context.Background(), tp, log.TopicConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := join.Open(context.Background(), join.Config{Log: l, Predictions: "preds", Labels: "labels", Out: "train",
		StateDir: t.TempDir(), Window: time.Hour, PollWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- j.Run(context.Background()) }()
	// Keep the joiner stepping: predictions arrive until it has read some.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; j.Stats().Predictions == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the joiner read no prediction; stats %+v", j.Stats())
		}
		appendTo(t, l, "preds", predictions(1, fmt.Sprintf("p%d", i), t0, `{"x": 1}`)...)
	}
	appendTo(t, l, "preds", predictions(1, "last", t0, `{"x": 1}`)...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run stopped by Close returned %v", err)
	}
	if err := j.Run(context.Background()); err == nil {
		t.Error("Run after Close returned nil")
	}
}

func TestConfigErrors(t *testing.T) {
	l := openLog(t, t.TempDir())
	defer l.Close()
	tests := []struct {
		cfg  join.Config
		want string
	}{
		{join.Config{Predictions: "p", Labels: "l", Out: "o", StateDir: "d"}, "Log: required"},
		{join.Config{Log: l, Predictions: "p", Labels: "p", Out: "o", StateDir: "d"}, "want three topics"},
		{join.Config{Log: l, Predictions: "p", Labels: "l", Out: "o"}, "StateDir: required"},
		{join.Config{Log: l, Predictions: "p", Labels: "l", Out: "o", StateDir: "d", LabelField: `a"b`}, "LabelField"},
		{join.Config{Log: l, Predictions: "nope", Labels: "l", Out: "o", StateDir: t.TempDir()}, `topic "nope"`},
	}
	for _, tc := range tests {
		_, err := join.Open(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

func FuzzDecodeLabel(f *testing.F) {
	f.Add([]byte(`{"id":"a","row":1,"label":"yes"}`))
	f.Add([]byte(`{"id":"a","label":null}`))
	f.Add([]byte(`{"id":"","row":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := join.DecodeLabel(b)
		if err != nil {
			return
		}
		if l.ID == "" || l.Row < 0 || !json.Valid(l.Label) || string(l.Label) == "null" {
			t.Fatalf("DecodeLabel(%q) = %+v, accepted", b, l)
		}
	})
}
