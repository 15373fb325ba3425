package predlog_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/serving/predlog"
)

// backends opens each real log the prediction log writes to: the embedded
// log and a Kafka-protocol broker (kfake) on loopback.
var backends = []struct {
	name string
	open func(t *testing.T) log.Log
}{
	{"disk", func(t *testing.T) log.Log {
		l, err := disk.Open(disk.Config{Dir: t.TempDir(), DefaultPartitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}},
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
		t.Cleanup(func() { l.Close() })
		return l
	}},
}

// readAll reads every record of topic, partition by partition.
func readAll(t *testing.T, l log.Log, topic string) []log.Record {
	t.Helper()
	ctx := context.Background()
	n, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []log.Record
	for _, p := range n.Partitions {
		for off := p.Earliest; off < p.Latest; {
			recs, err := l.Read(ctx, topic, p.ID, off, log.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, recs...)
			off = recs[len(recs)-1].Offset + 1
		}
	}
	return out
}

func TestWriterRecords(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			l := be.open(t)
			w, err := predlog.New(context.Background(), predlog.Config{Log: l, Topic: "predictions", FlushInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
			entries := []predlog.Entry{
				{ID: "a", Time: at, Model: "churn", Version: 3,
					Request:  []byte(`{"rows": [{"age": 30, "plan": "pro"}, {"age": 71, "plan": "basic"}]}`),
					Response: []byte(`{"model":"churn","version":3,"predictions":[{"class":"no"},{"class":"yes"}]}`)},
				{ID: "b\"\n", Time: at, Model: "price", Version: 1,
					Request:  []byte(`{"row": {"x": 2}}`),
					Response: []byte(`{"model":"price","version":1,"predictions":[{"value":6}]}`)},
				// A pair model that dropped its first row names the rows.
				{ID: "c", Time: at, Model: "recs", Version: 2,
					Request:  []byte(`{"rows": [{"u": 1, "i": 9}, {"u": 2, "i": 8}]}`),
					Response: []byte(`{"model":"recs","version":2,"predictions":[{"value":4.5,"row":1}]}`)},
				// Not a JSON object: counted as malformed, nothing written.
				{ID: "d", Time: at, Model: "price", Version: 1, Request: []byte(`{"rows": [`), Response: []byte(`{}`)},
			}
			for _, e := range entries {
				if !w.Offer(e) {
					t.Fatalf("Offer(%s) dropped with an empty queue", e.ID)
				}
			}
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]predlog.Record{}
			written := readAll(t, l, "predictions")
			for _, r := range written {
				recs, err := predlog.DecodeRows(nil, r.Value)
				if err != nil {
					t.Fatal(err)
				}
				for _, rec := range recs {
					if string(r.Key) != rec.ID {
						t.Errorf("record %s: key %q, want the request id", rec.ID, r.Key)
					}
					got[rec.ID+"/"+string(rune('0'+rec.Row))] = rec
				}
			}
			if len(written) != 3 {
				t.Errorf("%d records written, want one per well-formed request (3)", len(written))
			}
			want := []struct {
				key, fields, pred, model string
				version                  int
			}{
				{"a/0", `{"age": 30, "plan": "pro"}`, `{"class":"no"}`, "churn", 3},
				{"a/1", `{"age": 71, "plan": "basic"}`, `{"class":"yes"}`, "churn", 3},
				{"b\"\n/0", `{"x": 2}`, `{"value":6}`, "price", 1},
				{"c/1", `{"u": 2, "i": 8}`, `{"value":4.5,"row":1}`, "recs", 2},
			}
			if len(got) != len(want) {
				t.Errorf("got %d records, want %d: %v", len(got), len(want), got)
			}
			for _, wt := range want {
				r, ok := got[wt.key]
				if !ok {
					t.Errorf("no record %s", wt.key)
					continue
				}
				if string(r.Fields) != wt.fields || string(r.Prediction) != wt.pred || r.Model != wt.model || r.Version != wt.version || !r.Time.Equal(at) {
					t.Errorf("record %s = %+v (fields %s, prediction %s)", wt.key, r, r.Fields, r.Prediction)
				}
			}
			if n := counter(t, w, "flint_prediction_log_records_total", "malformed"); n != 1 {
				t.Errorf("malformed records counted %v, want 1", n)
			}
			if n := counter(t, w, "flint_prediction_log_records_total", "written"); n != 3 {
				t.Errorf("written records counted %v, want 3", n)
			}
		})
	}
}

// gatedLog is a real log whose appends wait until the gate opens: a
// backend that has stalled.
type gatedLog struct {
	log.Log
	gate chan struct{}
	once sync.Once
}

func (g *gatedLog) Append(ctx context.Context, topic string, recs []log.Record) error {
	<-g.gate
	return g.Log.Append(ctx, topic, recs)
}

func (g *gatedLog) open() { g.once.Do(func() { close(g.gate) }) }

// TestWriterDropsWhenFull: a stalled log never blocks Offer; what does
// not fit the queue is dropped and counted, and what fit is written once
// the log recovers.
func TestWriterDropsWhenFull(t *testing.T) {
	tests := []struct {
		name          string
		requests      int
		bytes         int64
		offer, queued int
	}{
		{"by requests", 3, 0, 10, 3 + 1}, // +1: the one the writer holds while the log stalls
		{"by bytes", 0, 300, 10, 3 + 1},  // each entry is 95 bytes
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &gatedLog{Log: backends[0].open(t), gate: make(chan struct{})}
			defer l.open()
			w, err := predlog.New(context.Background(), predlog.Config{Log: l, Topic: "p", QueueRequests: tc.requests, QueueBytes: tc.bytes,
				Batch: 1, FlushInterval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e := predlog.Entry{ID: "x", Time: time.Now(), Model: "m", Version: 1,
				Request: []byte(`{"row": {"x": 1}}`), Response: []byte(`{"model":"m","version":1,"predictions":[{"value":3.00000000001}]}`)}
			// The first entry is taken off the queue by the writer, which
			// then stalls in Append.
			if !w.Offer(e) {
				t.Fatal("the first Offer was dropped")
			}
			deadline := time.Now().Add(10 * time.Second)
			for testutil.ToFloat64(w.Collectors()[2]) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the writer never took the first entry")
				}
				time.Sleep(time.Millisecond)
			}
			accepted := 1
			for range tc.offer - 1 {
				if w.Offer(e) {
					accepted++
				}
			}
			if accepted != tc.queued {
				t.Errorf("accepted %d of %d offers, want %d", accepted, tc.offer, tc.queued)
			}
			if n := testutil.ToFloat64(w.Collectors()[0]); int(n) != tc.offer-tc.queued {
				t.Errorf("dropped counted %v, want %d", n, tc.offer-tc.queued)
			}
			l.open()
			if err := w.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := len(readAll(t, l, "p")); got != tc.queued {
				t.Errorf("%d records written, want %d", got, tc.queued)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	l := backends[0].open(t)
	tests := []struct {
		cfg  predlog.Config
		want string
	}{
		{predlog.Config{Topic: "p"}, "Log: required"},
		{predlog.Config{Log: l, Topic: "a b"}, "Topic:"},
		{predlog.Config{Log: l, Topic: "p", Sample: 1.5}, "Sample: want a fraction in (0, 1], got 1.5"},
		{predlog.Config{Log: l, Topic: "p", Sample: -0.1}, "Sample:"},
		{predlog.Config{Log: l, Topic: "p", QueueRequests: -1}, "QueueRequests"},
	}
	for _, tc := range tests {
		_, err := predlog.New(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

func TestSampled(t *testing.T) {
	w, err := predlog.New(context.Background(), predlog.Config{Log: backends[0].open(t), Topic: "p", Sample: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	n := 0
	const tries = 40_000
	for range tries {
		if w.Sampled() {
			n++
		}
	}
	// 0.25 of 40 000 has a standard deviation of 87; 10 of them is far
	// beyond any run's chance.
	if n < 10_000-870 || n > 10_000+870 {
		t.Errorf("sampled %d of %d at 0.25", n, tries)
	}
	if a, b := w.NewID(), w.NewID(); a == b || !strings.HasPrefix(b, a[:17]) {
		t.Errorf("ids %q and %q: want distinct ids with the writer's prefix", a, b)
	}
}

func counter(t *testing.T, w *predlog.Writer, name, result string) float64 {
	t.Helper()
	for _, c := range w.Collectors() {
		if cv, ok := c.(*prometheus.CounterVec); ok {
			return testutil.ToFloat64(cv.WithLabelValues(result))
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// FuzzDecodeRows: whatever DecodeRows accepts, of either format, is rows
// a join can use: an id, a row in range, fields a JSON object, a
// prediction that is JSON.
func FuzzDecodeRows(f *testing.F) {
	f.Add([]byte(`{"id":"a","row":0,"time":"2026-12-07T14:00:00Z","model":"m","version":1,"fields":{"x":1},"prediction":{"value":3}}`))
	f.Add([]byte(`{"id":"","row":-1}`))
	f.Add([]byte(`{"id":"a","fields":[1]}`))
	f.Add([]byte(`{"v":2,"id":"a","time":"2026-12-07T14:00:00Z","model":"m","version":1,"request":{"rows":[{"x":1},{"x":2}]},"response":{"predictions":[{"value":3},{"value":4}]}}`))
	f.Add([]byte(`{"v":2,"id":"c","time":"2026-12-07T14:00:00Z","model":"m","version":1,"request":{"rows":[{"u":1},{"u":2}]},"response":{"predictions":[{"value":3,"row":1}]}}`))
	f.Add([]byte(`{"v":2,"id":"b","version":1,"request":{"row":{"x":"]"}},"response":{"predictions":[{"value":3}]}}`))
	f.Add([]byte(`{"v":3,"id":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := predlog.DecodeRows(nil, b)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.ID == "" || r.Row < 0 || len(r.Fields) == 0 || r.Fields[0] != '{' || !json.Valid(r.Fields) || !json.Valid(r.Prediction) {
				t.Fatalf("DecodeRows(%q) = %+v, accepted", b, r)
			}
		}
		if len(rows) == 1 { // a row written back as format 1 reads the same
			back, err := predlog.Decode(predlog.AppendRow(nil, rows[0]))
			if err != nil || back.ID != rows[0].ID || back.Row != rows[0].Row || string(back.Fields) != string(rows[0].Fields) ||
				string(back.Prediction) != string(rows[0].Prediction) || !back.Time.Equal(rows[0].Time) {
				t.Fatalf("AppendRow(%+v) read back as %+v, %v", rows[0], back, err)
			}
		}
	})
}
