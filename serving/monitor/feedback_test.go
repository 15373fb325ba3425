package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/serving/predlog/join"
	"github.com/flintml/flint/trainer/jobs"
)

// feedbackJob trains on the joined topic: the newest 1000 labelled rows,
// retrained on every 1000 new ones, warm-started, and promoted only if it
// beats the version behind production on the newest 300 by 0.01 of
// log-loss.
var feedbackJob = trainertest.LoopSpec("train", 1000, 300)

// The feedback loop of continuous training on real parts, on the embedded
// log and on a Kafka-protocol broker: a server answers with the version
// behind production and logs every prediction; labels for the answered
// rows arrive in another topic and the joiner appends the labelled rows to
// the training topic; every 1000 of them fire the job, which retrains
// warm-started from the version before, is promoted, and is served next.
// Three such rounds; then a round whose labels are mostly wrong gives a
// challenger that is published but not promoted, the history says why,
// and the server keeps answering with the champion.
func TestFeedbackLoop(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		l, err := disk.Open(disk.Config{Dir: filepath.Join(t.TempDir(), "log"), Logger: quiet, Sync: disk.SyncUnsafeNever})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		feedbackLoop(t, l)
	})
	t.Run("kafka", func(t *testing.T) {
		l, err := kafka.New(context.Background(), kafka.Config{Brokers: kafkatest.Brokers(t), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		feedbackLoop(t, l)
	})
}

// loopServer is a prediction server on loopback with its prediction log.
type loopServer struct {
	t    testing.TB
	base string // the server's URL
}

// predict sends rows to production and returns the version that answered
// and the request id the rows were logged under.
func (s loopServer) predict(rows []map[string]any) (int, string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"rows": rows})
	resp, err := http.Post(s.base+"/v1/models/clicks/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var ans struct{ Version int }
	if resp.StatusCode != 200 || json.Unmarshal(out, &ans) != nil {
		s.t.Fatalf("predict: %d %s", resp.StatusCode, out)
	}
	return ans.Version, resp.Header.Get(serving.RequestIDHeader)
}

func feedbackLoop(t *testing.T, l log.Log) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	for _, topic := range []string{"train", "labels"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	m, err := jobs.NewManager(ctx, jobs.ManagerConfig{Store: st, Registry: reg, Log: l, TriggerPoll: 20 * time.Millisecond, Logger: quiet, FlintVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	// Labelled history bootstraps version 1.
	r := rand.New(rand.NewPCG(5, 6))
	rows, labels := trainertest.Clicks(r, 1000, 0, 0)
	seed := make([]log.Record, len(rows))
	for i, row := range rows {
		row["y"] = labels[i]
		seed[i].Value, _ = json.Marshal(row)
	}
	if err := l.Append(ctx, "train", seed); err != nil {
		t.Fatal(err)
	}
	first, err := m.Submit(ctx, "job.yaml", []byte(feedbackJob))
	if err != nil {
		t.Fatal(err)
	}
	j, err := m.Wait(ctx, first.ID)
	if err != nil || j.State != jobs.Succeeded || j.Result.Alias != "production" {
		t.Fatalf("the first run: %+v %v", j, err)
	}

	pl, err := predlog.New(ctx, predlog.Config{Log: l, Topic: "predictions", FlushInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, base := serve(t, serving.Config{Registry: reg, PredictionLog: pl, DefaultAlias: "production", Logger: quiet, WatchInterval: 20 * time.Millisecond})
	s := loopServer{t: t, base: base}

	jn, err := join.Open(ctx, join.Config{Log: l, Predictions: "predictions", Labels: "labels", Out: "train",
		StateDir: filepath.Join(dir, "join"), LabelField: "y", PollWait: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	jctx, stopJoin := context.WithCancel(ctx)
	joinDone := make(chan error, 1)
	go func() { joinDone <- jn.Run(jctx) }()
	defer func() {
		stopJoin()
		if err := <-joinDone; err != nil {
			t.Error(err)
		}
		jn.Close()
	}()

	// round serves 1000 rows in requests of 100 (all answered by version
	// serving), then, once the joiner has read their predictions, sends
	// their labels (so the training topic has the rows in label order),
	// and returns the run they fire.
	round := func(serving int, shift float64, flipped int) jobs.Job {
		t.Helper()
		rows, labels := trainertest.Clicks(r, 1000, shift, flipped)
		seen := jn.Stats().Predictions
		var events []log.Record
		for i := 0; i < len(rows); i += 100 {
			v, id := s.predict(rows[i : i+100])
			if v != serving || id == "" {
				t.Fatalf("rows answered by version %d under request id %q, want version %d", v, id, serving)
			}
			for k := range 100 {
				events = append(events, log.Record{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"row":%d,"label":%d}`, id, k, labels[i+k])})
			}
		}
		waitFor(t, "the joiner to read the round's predictions", func() bool { return jn.Stats().Predictions >= seen+1000 })
		if err := l.Append(ctx, "labels", events); err != nil {
			t.Fatal(err)
		}
		return nextRun(t, m, j.ID)
	}
	for k := 1; k <= 3; k++ {
		j = round(k, 0.5*float64(k), 0)
		res := j.Result
		if !strings.Contains(j.Trigger, "1000 new records") || res.Version != k+1 || res.Alias != "production" {
			t.Fatalf("round %d: trigger %q, version %d, alias %q (held: %s)", k, j.Trigger, res.Version, res.Alias, res.AliasHeld)
		}
		if res.WarmStart == nil || res.WarmStart.From != k {
			t.Fatalf("round %d did not start from version %d: %+v", k, k, res.WarmStart)
		}
		waitFor(t, fmt.Sprintf("the server to answer with version %d", k+1), func() bool {
			v, _ := s.predict([]map[string]any{{"x1": 0.1, "x2": 0.2}})
			return v == k+1
		})
	}
	if got := jn.Stats().Joined; got != 3000 {
		t.Fatalf("the joiner joined %d rows, want 3000", got)
	}

	// Labels mostly wrong: 700 flipped ones, then 300 right ones to judge by.
	bad := round(4, 1.5, 700)
	if bad.Result.Version != 5 || bad.Result.Alias != "" || !strings.Contains(bad.Result.AliasHeld, "does not beat champion v4") {
		t.Fatalf("the challenger of wrong labels: version %d, alias %q, held %q", bad.Result.Version, bad.Result.Alias, bad.Result.AliasHeld)
	}
	man, err := reg.Describe(ctx, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	last := man.History[len(man.History)-1]
	if man.Aliases["production"] != 4 || last.To != 5 || last.Moved || last.Comparison == nil || last.Comparison.Champion != 4 ||
		!(last.Comparison.ChallengerValue > last.Comparison.ChampionValue-last.Comparison.Margin) {
		t.Fatalf("production at %d; the last decision %+v, comparison %+v", man.Aliases["production"], last, last.Comparison)
	}
	t.Logf("the challenger of wrong labels: %s", last.Reason)
	if v, _ := s.predict([]map[string]any{{"x1": 0.1, "x2": 0.2}}); v != 4 {
		t.Fatalf("after the rejected challenger the server answers with version %d, want 4", v)
	}
}

// nextRun waits for the triggered job's run after run prev to finish, and
// fails unless it succeeded.
func nextRun(t *testing.T, m *jobs.Manager, prev string) jobs.Job {
	t.Helper()
	var id string
	waitFor(t, "a triggered run after "+prev, func() bool {
		ts := m.Triggers()
		if len(ts) == 1 && ts[0].LastRun != prev {
			id = ts[0].LastRun
			return true
		}
		return false
	})
	j, err := m.Wait(context.Background(), id)
	if err != nil || j.State != jobs.Succeeded {
		t.Fatalf("run %s: %+v %v", id, j, err)
	}
	return j
}
