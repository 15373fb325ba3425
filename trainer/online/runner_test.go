package online

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/serving"
)

// env is a real log and a real local model store.
type env struct {
	log log.Log
	reg *models.Registry
}

// newEnv opens the embedded log, or with backend "kafka" a Kafka-protocol
// broker over TCP (FLINT_TEST_KAFKA, or kfake in process).
func newEnv(t testing.TB, backend ...string) *env {
	t.Helper()
	var l log.Log
	var err error
	if len(backend) > 0 && backend[0] == "kafka" {
		l, err = kafka.New(context.Background(), kafka.Config{Brokers: kafkatest.Brokers(t)})
	} else {
		l, err = disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &env{log: l, reg: models.NewRegistry(st)}
}

// record is one synthetic event: two numbers and a city, labelled for
// each algorithm.
func record(r *rand.Rand) map[string]any {
	a, b := r.NormFloat64()*10+50, r.NormFloat64()
	cities := []string{"oslo", "lima", "pune"}
	c := r.IntN(3)
	m := 3*(a-50)/10 - 2*b + float64(c) + 0.1*r.NormFloat64()
	label := "no"
	if r.Float64() < 1/(1+math.Exp(-m)) {
		label = "yes"
	}
	return map[string]any{"a": a, "b": b, "city": cities[c], "y": m, "buy": label}
}

// appendRecords appends n records, keyed so that both partitions get some.
func (e *env) appendRecords(t testing.TB, topic string, r *rand.Rand, n int) {
	t.Helper()
	recs := make([]log.Record, n)
	for i := range recs {
		v, err := json.Marshal(record(r))
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = log.Record{Key: []byte(fmt.Sprint(r.IntN(1000))), Value: v}
	}
	if err := e.log.Append(context.Background(), topic, recs); err != nil {
		t.Fatal(err)
	}
}

const specHead = `
name: %s
source: {topic: %s}
schema:
  fields:
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: city, type: categorical}
    - {name: y, type: numeric}
    - {name: buy, type: categorical}
  label: %s
transforms:
  - {type: standard_scaler, inputs: [a, b], output: ab}
  - {type: one_hot, inputs: [city], output: city_oh}
  - {type: assembler, inputs: [ab, city_oh]}
fit_records: 300
batch_records: 100
publish: {every_records: 500}
algorithm:
  %s
`

func mustSpec(t testing.TB, text string) *Spec {
	t.Helper()
	s, err := ParseSpec("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// version is what the test saw of a published version: the runner's own
// predictions of the probe rows.
type version struct {
	Published
	preds []float64
}

// running is a Run in a goroutine.
type running struct {
	versions chan version
	cancel   context.CancelFunc
	done     chan error
}

// start runs the spec; every published version's in-memory predictions
// of probe are sent on versions.
func start(t *testing.T, e *env, spec *Spec, probe []map[string]any) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{versions: make(chan version, 100), cancel: cancel, done: make(chan error, 1)}
	opt := Options{Log: e.log, Registry: e.reg, SpecText: "spec", PollWait: 20 * time.Millisecond,
		OnPublish: func(p Published) {
			x := make([]float64, len(probe)*p.Width)
			row := p.Pipeline.Schema.NewRow()
			tr := p.Pipeline.NewTransformer()
			for i, rec := range probe {
				if err := p.Pipeline.Schema.DecodeMap(row, rec); err != nil {
					panic(err)
				}
				if err := tr.Transform(x[i*p.Width:(i+1)*p.Width], row); err != nil {
					panic(err)
				}
			}
			preds := make([]float64, len(probe))
			p.Predict(preds, x)
			r.versions <- version{p, preds}
		}}
	go func() { r.done <- Run(ctx, spec, opt) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	if err := <-r.done; err != nil {
		panic(fmt.Sprintf("Run: %v", err))
	}
	r.done <- nil // a second stop returns at once
}

// next waits for the next version, for at most a minute.
func (r *running) next(t *testing.T) version {
	t.Helper()
	select {
	case v := <-r.versions:
		return v
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run ended before the next version: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no version published within a minute")
	}
	return version{}
}

// serve starts flint's server on loopback over the registry.
func serve(t *testing.T, reg *models.Registry) string {
	t.Helper()
	s, err := serving.New(serving.Config{Registry: reg, WatchInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

// served asks the server for version v's predictions of rows: the value,
// the class index or the cluster of each.
func served(t *testing.T, url, model string, v int, rows []map[string]any) []float64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"rows": rows})
	u := fmt.Sprintf("%s/v1/models/%s/versions/%d/predict", url, model, v)
	var out struct {
		Predictions []struct {
			Value   *float64 `json:"value"`
			Index   *int     `json:"index"`
			Cluster *int     `json:"cluster"`
		} `json:"predictions"`
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Post(u, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POST %s: %d %s", u, resp.StatusCode, buf.String())
		}
		time.Sleep(20 * time.Millisecond) // the server has not loaded the version yet
	}
	got := make([]float64, len(out.Predictions))
	for i, p := range out.Predictions {
		switch {
		case p.Value != nil:
			got[i] = *p.Value
		case p.Index != nil:
			got[i] = float64(*p.Index)
		case p.Cluster != nil:
			got[i] = float64(*p.Cluster)
		default:
			t.Fatalf("prediction %d has no value, class or cluster", i)
		}
	}
	return got
}

// TestVersionsServe runs each streaming algorithm on 1600 records and
// checks a version is published every 500 records, with the lineage and
// counts that say so, and that `flint serve` answers every version as the
// runner's in-memory model did when it published it.
func TestVersionsServe(t *testing.T) {
	for _, tc := range []struct {
		algo, label string
	}{
		{"streaming_linear: {step_size: 0.5}", "y"},
		{"streaming_logistic: {step_size: 1, reg_param: 0.01}", "buy"},
		{"streaming_kmeans: {k: 3, half_life: 4}", "y"},
	} {
		t.Run(tc.algo, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if err := e.log.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			e.appendRecords(t, "events", r, 1600)
			probe := make([]map[string]any, 20)
			for i := range probe {
				probe[i] = record(r)
			}
			spec := mustSpec(t, fmt.Sprintf(specHead, "m", "events", tc.label, tc.algo))
			run := start(t, e, spec, probe)
			var vs []version
			for len(vs) < 3 {
				vs = append(vs, run.next(t))
			}
			run.stop()
			url := serve(t, e.reg)
			for i, v := range vs {
				if v.Version != i+1 || v.Records != int64(500*(i+1)) {
					t.Errorf("version %d holds %d records, want version %d with %d", v.Version, v.Records, i+1, 500*(i+1))
				}
				var n int64
				for _, s := range v.Lineage {
					n += s.To - s.From
					if s.Kind != "log" || s.Topic != "events" || s.From != 0 {
						t.Errorf("version %d lineage %v: want log events from offset 0", v.Version, s)
					}
				}
				if n != v.Records {
					t.Errorf("version %d lineage %v covers %d records, want %d", v.Version, v.Lineage, n, v.Records)
				}
				got := served(t, url, "m", v.Version, probe)
				if len(got) != len(probe) {
					t.Fatalf("version %d: %d predictions for %d rows", v.Version, len(got), len(probe))
				}
				for j := range got {
					if math.Abs(got[j]-v.preds[j]) > 1e-9*math.Max(1, math.Abs(v.preds[j])) {
						t.Errorf("version %d row %d: served %v, the runner's model %v", v.Version, j, got[j], v.preds[j])
					}
				}
			}
			// The group committed exactly what the last version holds.
			com, err := e.log.Committed(ctx, spec.GroupName(), "events")
			if err != nil {
				t.Fatal(err)
			}
			last := vs[len(vs)-1]
			for _, s := range last.Lineage {
				if com[s.Partition] != s.To {
					t.Errorf("partition %d committed at %d, the last version holds up to %d", s.Partition, com[s.Partition], s.To)
				}
			}
		})
	}
}

// TestRestartResumes: a second run resumes from the last version's
// parameters and the group's offsets: it learns only the records that
// arrived since (the records count and lineage say so), and its model
// continues the first's. A run in a new group (as after a crash between a
// publish and its commit) still drops what the version holds. On the
// embedded log and on a Kafka-protocol broker.
func TestRestartResumes(t *testing.T) {
	for _, backend := range []string{"disk", "kafka"} {
		t.Run(backend, func(t *testing.T) { testRestartResumes(t, backend) })
	}
}

func testRestartResumes(t *testing.T, backend string) {
	e := newEnv(t, backend)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	e.appendRecords(t, "events", r, 1000)
	spec := mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}"))
	run := start(t, e, spec, nil)
	run.next(t)
	v2 := run.next(t)
	run.stop()

	e.appendRecords(t, "events", r, 500)
	run = start(t, e, spec, nil)
	v3 := run.next(t)
	run.stop()
	if v3.Version != 3 || v3.Records != 1500 {
		t.Fatalf("after the restart: version %d with %d records, want version 3 with 1500", v3.Version, v3.Records)
	}
	for i, s := range v3.Lineage {
		if s.From != 0 || s.To <= v2.Lineage[i].To {
			t.Errorf("partition %d: lineage %v after %v: want from 0 and further on", s.Partition, s, v2.Lineage[i])
		}
	}
	a, _, err := e.reg.Get(ctx, "m", 3)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(a.Extra[StateSection])
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 15 || st.Rows != 1500 {
		t.Errorf("version 3 has %d batches over %d rows, want 15 over 1500 (no batch learnt twice)", st.Batches, st.Rows)
	}

	// A new group has committed nothing: it reads from offset 0, and the
	// runner drops the 1500 records version 3 holds.
	e.appendRecords(t, "events", r, 500)
	spec.Source.Group = "another"
	run = start(t, e, spec, nil)
	v4 := run.next(t)
	run.stop()
	if v4.Version != 4 || v4.Records != 2000 {
		t.Fatalf("in a new group: version %d with %d records, want version 4 with 2000", v4.Version, v4.Records)
	}

	// A group whose offsets were moved past 300 records the model never
	// saw: the lineage gets a second range per partition, with the gap.
	e.appendRecords(t, "events", r, 300)
	spec.Source.Group = "ahead"
	commitAtEnd(t, e.log, "ahead", "events")
	e.appendRecords(t, "events", r, 500)
	run = start(t, e, spec, nil)
	v5 := run.next(t)
	run.stop()
	var n int64
	ranges := map[int]int{}
	for _, s := range v5.Lineage {
		n += s.To - s.From
		ranges[s.Partition]++
	}
	if v5.Records != 2500 || n != 2500 || ranges[0] != 2 || ranges[1] != 2 {
		t.Fatalf("after a skip: %d records, lineage %v covering %d; want 2500 in two ranges per partition", v5.Records, v5.Lineage, n)
	}
	for i := 0; i < len(v5.Lineage); i += 2 {
		if a, b := v5.Lineage[i], v5.Lineage[i+1]; a.To >= b.From {
			t.Errorf("partition %d: ranges %v and %v leave no gap for the skipped records", a.Partition, a, b)
		}
	}
}

// commitAtEnd commits group's offsets at the end of every partition of
// topic, as a group that skipped records would have.
func commitAtEnd(t *testing.T, l log.Log, group, topic string) {
	t.Helper()
	ctx := context.Background()
	info, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(time.Minute)
	for len(c.Assignment()) < len(info.Partitions) {
		if time.Now().After(deadline) {
			t.Fatalf("group %s was not assigned every partition of %s within a minute", group, topic)
		}
		if _, err := c.Poll(ctx, log.ReadOptions{MaxRecords: 1, Wait: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	var recs []log.Record
	for _, p := range info.Partitions {
		recs = append(recs, log.Record{Topic: topic, Partition: p.ID, Offset: p.Latest - 1})
	}
	if err := c.Commit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
}

// TestPublishEvery: with publish.every, records fewer than every_records
// still reach a version, once the interval has passed.
func TestPublishEvery(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(5, 6))
	e.appendRecords(t, "events", r, 50)
	spec := mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}"))
	spec.Publish = Publish{Records: 1 << 40, Every: 50 * time.Millisecond}
	spec.FitRecords = 10
	run := start(t, e, spec, nil)
	for v := run.next(t); v.Records < 50; v = run.next(t) {
	}
	e.appendRecords(t, "events", r, 7)
	if v := run.next(t); v.Records != 57 {
		t.Errorf("the version after 7 more records holds %d records, want 57", v.Records)
	}
}

// TestBadRecords: a record that does not fit fails the run naming where
// it is, or is skipped and counted with on_bad_record: skip.
func TestBadRecords(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprint("skip=", skip), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if err := e.log.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(7, 8))
			e.appendRecords(t, "events", r, 200)
			if err := e.log.Append(ctx, "events", []log.Record{{Value: []byte(`{"a": "many", "b": 1, "city": "oslo", "y": 1, "buy": "no"}`)}}); err != nil {
				t.Fatal(err)
			}
			e.appendRecords(t, "events", r, 299)
			spec := mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}"))
			spec.FitRecords = 100
			if skip {
				spec.OnBadRecord = "skip"
				run := start(t, e, spec, nil)
				if v := run.next(t); v.Records != 500 || v.Rows != 499 {
					t.Errorf("version 1: %d records, %d rows; want 500 and 499", v.Records, v.Rows)
				}
				return
			}
			err := Run(ctx, spec, Options{Log: e.log, Registry: e.reg, PollWait: 20 * time.Millisecond})
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("events/0 offset 200")) {
				t.Fatalf("Run = %v, want an error naming events/0 offset 200", err)
			}
		})
	}
}

// TestResumeRefusesOtherModels: a model published by something else, or
// by another algorithm, is not resumed.
func TestResumeRefusesOtherModels(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 9))
	e.appendRecords(t, "events", r, 500)
	spec := mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}"))
	run := start(t, e, spec, nil)
	run.next(t)
	run.stop()
	other := mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_kmeans: {k: 2}"))
	err := Run(ctx, other, Options{Log: e.log, Registry: e.reg})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("was trained by streaming_linear, the spec asks for streaming_kmeans")) {
		t.Fatalf("Run = %v, want a refusal naming both algorithms", err)
	}
	changed := mustSpec(t, strings.Replace(fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}"), "inputs: [a, b], output: ab", "inputs: [a], output: ab", 1))
	err = Run(ctx, changed, Options{Log: e.log, Registry: e.reg})
	if err == nil || !strings.Contains(err.Error(), "the spec's schema or transforms differ from those model m version 1 was fitted with") {
		t.Fatalf("Run = %v, want a refusal of changed transforms", err)
	}
	p, err := features.New(spec.Schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.Marshal(p)
	if _, err := e.reg.Publish(ctx, "plain", &models.Artifact{Algorithm: "linear", Pipeline: pj}); err != nil {
		t.Fatal(err)
	}
	spec.Output.Model = "plain"
	err = Run(ctx, spec, Options{Log: e.log, Registry: e.reg})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("was not published by flint online")) {
		t.Fatalf("Run = %v, want a refusal of a batch-trained model", err)
	}
}

// TestDeterministicVersions: two runs over the same records (one
// partition, so one order) in different groups publish the same
// parameters and pipeline bit for bit, version by version.
func TestDeterministicVersions(t *testing.T) {
	for _, algo := range []string{"streaming_kmeans: {k: 3}", "streaming_logistic: {mini_batch_fraction: 0.5}"} {
		t.Run(algo, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if err := e.log.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			e.appendRecords(t, "events", rand.New(rand.NewPCG(13, 14)), 1000)
			for _, name := range []string{"a", "b"} {
				run := start(t, e, mustSpec(t, fmt.Sprintf(specHead, name, "events", "buy", algo)), nil)
				run.next(t)
				run.next(t)
				run.stop()
			}
			for v := 1; v <= 2; v++ {
				a, _, err := e.reg.Get(ctx, "a", v)
				if err != nil {
					t.Fatal(err)
				}
				b, _, err := e.reg.Get(ctx, "b", v)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a.Params, b.Params) || !bytes.Equal(a.Pipeline, b.Pipeline) {
					t.Errorf("version %d differs between the two runs", v)
				}
			}
		})
	}
}

// flakyStore is a real local store whose first puts fail, as a store
// outage would.
type flakyStore struct {
	models.Store
	fail atomic.Int32 // puts left to fail
}

func (f *flakyStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("store unavailable")
	}
	return f.Store.Put(ctx, key, r, size)
}

// TestPublishRetries: a publish that fails is retried with backoff, so
// the version comes out once the store is back, and the run goes on.
func TestPublishRetries(t *testing.T) {
	e := newEnv(t)
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyStore{Store: st}
	flaky.fail.Store(2)
	e.reg = models.NewRegistry(flaky)
	e.appendRecords(t, "events", rand.New(rand.NewPCG(2, 3)), 1000)
	run := start(t, e, mustSpec(t, fmt.Sprintf(specHead, "m", "events", "y", "streaming_linear: {}")), nil)
	if v := run.next(t); v.Version != 1 || v.Records != 500 {
		t.Errorf("first version %d with %d records, want 1 with 500", v.Version, v.Records)
	}
	if v := run.next(t); v.Version != 2 || v.Records != 1000 {
		t.Errorf("second version %d with %d records, want 2 with 1000", v.Version, v.Records)
	}
	if n := flaky.fail.Load(); n >= 0 {
		t.Errorf("the store failed %d puts fewer than asked", n+1)
	}
}
