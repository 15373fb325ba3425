package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// flakyCluster wraps a cluster and fails the MapPartitions calls that fail
// picks (numbered from 1 over the cluster's life) with the error it
// returns.
type flakyCluster struct {
	cluster.Cluster
	calls atomic.Int64
	fail  func(call int64) error
}

func (c *flakyCluster) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	if err := c.fail(c.calls.Add(1)); err != nil {
		return nil, err
	}
	return c.Cluster.MapPartitions(ctx, ds, task, b)
}

var errWorkerGone = fmt.Errorf("worker w1 lost mid-task (%w)", cluster.ErrUnavailable)

// retrySpec trains a logistic regression whose resumed fits are bit for bit
// the uninterrupted one's (gradient descent).
func retrySpec(csv string) string {
	return fmt.Sprintf(`name: retried
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {solver: gd, max_iter: 30, tol: 1e-12, standardization: false}
`, csv)
}

func newEngine(t *testing.T) *cluster.Engine {
	e := cluster.NewEngine(cluster.Config{Workers: 2, Logger: quietLogger()})
	t.Cleanup(func() { e.Close() })
	return e
}

func latestParams(t *testing.T, st models.Store, name string) []byte {
	t.Helper()
	art, _, err := models.NewRegistry(st).Latest(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return art.Params
}

// A job whose cluster is unavailable twice mid-training is retried from
// its checkpoints and publishes the model an uninterrupted run publishes.
func TestTransientFailuresAreRetried(t *testing.T) {
	csv := clicksCSV(t)
	ref := newJobStore(t)
	mr := newManager(t, ManagerConfig{Store: ref, Cluster: newEngine(t), CheckpointEvery: 2})
	if j := waitJob(t, mr, submit(t, mr, retrySpec(csv)).ID); j.State != Succeeded {
		t.Fatalf("uninterrupted job: %+v", j)
	}

	st := newJobStore(t)
	fc := &flakyCluster{Cluster: newEngine(t), fail: func(n int64) error {
		if n == 12 || n == 30 {
			return errWorkerGone
		}
		return nil
	}}
	var mu sync.Mutex
	var firsts []int // the first iteration each attempt's fit reported
	logger, logs := newLogBuffer()
	m := newManager(t, ManagerConfig{Store: st, Cluster: fc, CheckpointEvery: 2, RetryBackoff: time.Millisecond, Logger: logger,
		Observe: func(string) trainer.Observer {
			mu.Lock()
			firsts = append(firsts, -1)
			k := len(firsts) - 1
			mu.Unlock()
			return iterHook(func(_ int, p ml.Progress) {
				mu.Lock()
				if firsts[k] < 0 {
					firsts[k] = p.Iter
				}
				mu.Unlock()
			})
		}})
	j := waitJob(t, m, submit(t, m, retrySpec(csv)).ID)
	if j.State != Succeeded || j.Attempts != 3 || j.Retries != 2 || !strings.Contains(j.LastError, "worker w1 lost") || !j.NextAttempt.IsZero() {
		t.Fatalf("retried job: %+v", j)
	}
	if rec := record(t, st, j.ID); rec.Attempts != 3 || rec.Retries != 2 {
		t.Fatalf("stored record: %+v", rec)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(firsts) != 3 || firsts[1] <= 1 || firsts[2] <= firsts[1] {
		t.Fatalf("the attempts' fits started at iterations %v; want the retries to resume from later checkpoints", firsts)
	}
	if !bytes.Equal(latestParams(t, st, "retried"), latestParams(t, ref, "retried")) {
		t.Fatal("the retried job published a model that differs from the uninterrupted run's")
	}
	if n := strings.Count(logs.String(), "retrying from its newest checkpoint"); n != 2 {
		t.Fatalf("%d log lines about retries, want 2:\n%s", n, logs.String())
	}
}

// An error that is not transient fails the job at once.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	fc := &flakyCluster{Cluster: newEngine(t), fail: func(n int64) error {
		if n == 5 {
			return errors.New("partition 3 holds NaN features")
		}
		return nil
	}}
	m := newManager(t, ManagerConfig{Store: newJobStore(t), Cluster: fc, RetryBackoff: time.Millisecond})
	j := waitJob(t, m, submit(t, m, retrySpec(clicksCSV(t))).ID)
	if j.State != Failed || j.Attempts != 1 || j.Retries != 0 || !strings.Contains(j.Error, "NaN features") {
		t.Fatalf("job: %+v", j)
	}
}

// Retries stop at ManagerConfig.Retries; the job fails with the last error.
func TestRetriesStopAtTheCount(t *testing.T) {
	fc := &flakyCluster{Cluster: newEngine(t), fail: func(int64) error { return errWorkerGone }}
	m := newManager(t, ManagerConfig{Store: newJobStore(t), Cluster: fc, Retries: 2, RetryBackoff: time.Millisecond})
	j := waitJob(t, m, submit(t, m, retrySpec(clicksCSV(t))).ID)
	if j.State != Failed || j.Attempts != 3 || j.Retries != 2 || !strings.Contains(j.Error, "worker w1 lost") {
		t.Fatalf("job: %+v", j)
	}
	if n := fc.calls.Load(); n != 3 {
		t.Fatalf("%d calls reached the cluster, want one per attempt (3)", n)
	}
}

// A job canceled while it waits to retry is canceled, not retried; its
// record said what it waited for.
func TestCancelWhileWaitingToRetry(t *testing.T) {
	st := newJobStore(t)
	fc := &flakyCluster{Cluster: newEngine(t), fail: func(int64) error { return errWorkerGone }}
	m := newManager(t, ManagerConfig{Store: st, Cluster: fc, RetryBackoff: time.Hour, RetryFor: 2 * time.Hour})
	id := submit(t, m, retrySpec(clicksCSV(t))).ID
	for {
		j, changed, err := m.Watch(id)
		if err != nil || j.State.Final() {
			t.Fatalf("job %+v, %v; want it waiting to retry", j, err)
		}
		if !j.NextAttempt.IsZero() {
			if rec := record(t, st, id); rec.LastError == "" || time.Until(rec.NextAttempt) < 50*time.Minute {
				t.Fatalf("record while waiting to retry: %+v", rec)
			}
			break
		}
		<-changed
	}
	if _, err := m.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, m, id)
	if j.State != Canceled || j.Attempts != 1 || j.Retries != 0 || !j.NextAttempt.IsZero() {
		t.Fatalf("job: %+v", j)
	}
}

func TestTransientErrors(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want bool
	}{
		{ctx, errWorkerGone, true},
		{ctx, fmt.Errorf("read clicks/0: %w", context.DeadlineExceeded), true},
		{ctx, errors.Join(errors.New("other"), errWorkerGone), true},
		{ctx, errors.New("bad spec"), false},
		{ctx, context.Canceled, false},
		{canceled, errWorkerGone, false},
		{ctx, nil, false},
	} {
		if got := transient(c.ctx, c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
