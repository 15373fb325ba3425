package remote

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/jobdata"
	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
)

// The training jobs of the trainer run unchanged on worker processes: the
// models they publish are the in-process engine's, byte for byte.

const lrSpec = `
name: clicks
source: {topic: clicks, split: 2}
schema:
  format: csv
  label: y
  fields:
    - {name: y, type: numeric}
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: c, type: numeric}
    - {name: colour, type: categorical}
transforms:
  - {type: standard_scaler, inputs: [a, b, c]}
  - {type: one_hot, inputs: [colour]}
algorithm:
  logistic_regression: {reg_param: 0.01, max_iter: 30}
evaluation: {test_fraction: 0.2, seed: 7, metrics: [auc, accuracy]}
`

// mlpSpec, linearSpec, nbSpec, svmSpec and cvSpec read the same records as
// lrSpec.
var (
	mlpSpec = strings.Replace(strings.Replace(lrSpec, "name: clicks", "name: clicks-mlp", 1),
		"logistic_regression: {reg_param: 0.01, max_iter: 30}", "mlp: {hidden_layers: [8], batch_size: 128, max_iter: 40, seed: 4}", 1)
	linearSpec = strings.Replace(strings.Replace(strings.Replace(lrSpec, "name: clicks", "name: clicks-linear", 1),
		"logistic_regression: {reg_param: 0.01, max_iter: 30}", "linear_regression: {reg_param: 0.1, elastic_net_param: 0.5, max_iter: 30}", 1),
		"metrics: [auc, accuracy]", "metrics: [rmse]", 1)
	nbSpec = strings.Replace(strings.Replace(lrSpec, "name: clicks", "name: clicks-nb", 1),
		"logistic_regression: {reg_param: 0.01, max_iter: 30}", "naive_bayes: {model_type: gaussian}", 1)
	svmSpec = strings.Replace(strings.Replace(lrSpec, "name: clicks", "name: clicks-svm", 1),
		"logistic_regression: {reg_param: 0.01, max_iter: 30}", "linear_svc: {reg_param: 0.01, max_iter: 60}", 1)
	// cvSpec chooses reg_param by 3-fold cross-validation.
	cvSpec = strings.Replace(strings.Replace(lrSpec, "name: clicks", "name: clicks-cv", 1),
		"evaluation: {test_fraction: 0.2,", "evaluation: {folds: 3, grid: {reg_param: [0.001, 1]}, test_fraction: 0.2,", 1)
)

// cachedSpec reads the same records through a numeric pipeline of
// scalers (the colour column skipped), which the trainer fits from the
// rows cached once (features.Pipeline.CachedFit).
const cachedSpec = `
name: clicks-cached
source: {topic: clicks, split: 2}
schema:
  format: csv
  label: y
  columns: [y, a, b, c, ""]
  fields:
    - {name: y, type: numeric}
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: c, type: numeric}
transforms:
  - {type: minmax_scaler, inputs: [a, b], output: ab}
  - {type: standard_scaler, inputs: [c], output: cs}
algorithm:
  logistic_regression: {reg_param: 0.01, max_iter: 30}
evaluation: {test_fraction: 0.2, seed: 7, metrics: [auc, accuracy]}
`

const kmeansSpec = `
name: blobs
source: {topic: blobs}
schema:
  format: csv
  fields:
    - {name: a, type: numeric}
    - {name: b, type: numeric}
    - {name: c, type: numeric}
algorithm:
  kmeans: {k: 4, seed: 3, max_iter: 20}
`

// alsSpec reads its user and item ids as names (string ids, mapped to dense
// integers by a scan) and learns biases, so the remote runs cover both.
const alsSpec = `
name: ratings
source: {topic: ratings}
schema:
  format: csv
  fields:
    - {name: user, type: categorical}
    - {name: item, type: categorical}
    - {name: rating, type: numeric}
algorithm:
  als: {user: user, item: item, rating: rating, rank: 4, reg_param: 0.05, max_iter: 6, seed: 2, biases: true}
evaluation: {test_fraction: 0.1, seed: 5}
`

// jobData appends the records the three jobs read, keyed so that they
// spread over the topics' partitions.
func jobData(t *testing.T, l log.Log) {
	t.Helper()
	topics := jobdata.Generate(11, jobdata.Sizes{Clicks: 4000, Blobs: 3000, Ratings: 6000, Users: 200, Items: 100})
	if err := jobdata.Append(context.Background(), l, topics, 3); err != nil {
		t.Fatal(err)
	}
}

// runJob runs spec on x (nil: the in-process engine) and returns the
// published artefact.
func runJob(t *testing.T, l log.Log, spec string, x cluster.Cluster, obs trainer.Observer) (*models.Artifact, *trainer.Result) {
	t.Helper()
	ctx := context.Background()
	s, err := trainer.ParseSpec("job.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.New(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	opt := trainer.Options{Log: l, Registry: reg, SpecText: spec, Logger: quiet(), Observer: obs}
	opt.Cluster = x
	res, err := trainer.Run(ctx, s, opt)
	if err != nil {
		t.Fatal(err)
	}
	art, _, err := reg.Get(ctx, res.Model, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	return art, res
}

func sameArtifact(t *testing.T, what string, got, want *models.Artifact, gotRes, wantRes *trainer.Result) {
	t.Helper()
	if !bytes.Equal(got.Params, want.Params) {
		t.Errorf("%s: the model trained on the workers differs from the in-process one", what)
	}
	if !bytes.Equal(got.Pipeline, want.Pipeline) {
		t.Errorf("%s: the fitted pipeline differs:\n got %s\nwant %s", what, got.Pipeline, want.Pipeline)
	}
	if fmt.Sprint(gotRes.Metrics) != fmt.Sprint(wantRes.Metrics) || gotRes.Rows != wantRes.Rows {
		t.Errorf("%s: metrics %v on %d rows, in-process %v on %d", what, gotRes.Metrics, gotRes.Rows, wantRes.Metrics, wantRes.Rows)
	}
}

func kafkaJobLog(t *testing.T) (log.Log, string) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	l, err := kafka.New(context.Background(), kafka.Config{Brokers: brokers, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, "kafka:" + strings.Join(brokers, ",")
}

// saslJobLog is a Kafka-protocol broker that requires SCRAM-SHA-256: the
// driver's log spec names the mechanism, and every process — this one and
// the workers, started after this — takes the credentials from its own
// environment.
func saslJobLog(t *testing.T) (log.Log, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "flint", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Setenv("FLINT_KAFKA_USERNAME", "flint")
	t.Setenv("FLINT_KAFKA_PASSWORD", "s3cret")
	spec := "kafka:" + strings.Join(c.ListenAddrs(), ",") + "?sasl=scram-sha-256"
	l, err := logspec.Open(context.Background(), spec, logspec.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, spec
}

// diskJobLog is an embedded log that this process writes and the worker
// processes read beside it, read-only.
func diskJobLog(t *testing.T) (log.Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	l, err := disk.Open(disk.Config{Dir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, "dir:" + dir
}

func TestJobsOnWorkersEqualInProcess(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) (log.Log, string)
	}{
		{"kafka", kafkaJobLog},
		{"kafka-sasl", saslJobLog},
		{"dir", diskJobLog},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			l, spec := be.open(t)
			jobData(t, l)
			d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Log: spec})
			startWorkers(t, d, 3, "")
			for _, job := range []struct{ name, spec string }{{"logistic", lrSpec}, {"logistic, parsed once", cachedSpec}, {"linear (OWL-QN)", linearSpec}, {"mlp", mlpSpec}, {"kmeans", kmeansSpec}, {"kmeans, float32", kmeansSpec + "engine: {precision: float32}\n"}, {"als", alsSpec}, {"naive bayes", nbSpec}, {"linear svm", svmSpec}} {
				want, wantRes := runJob(t, l, job.spec, nil, nil) // in-process
				got, gotRes := runJob(t, l, job.spec, d, nil)
				sameArtifact(t, job.name, got, want, gotRes, wantRes)
				t.Logf("%s on %d workers: %v (in-process %v)", job.name, d.Workers(), gotRes.Duration, wantRes.Duration)
			}
		})
	}
}

// killCluster runs kill concurrently with the n-th task run on the driver.
type killCluster struct {
	*Driver
	n     int64
	calls atomic.Int64
	kill  func()
}

func (k *killCluster) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	if k.calls.Add(1) == k.n {
		go k.kill()
	}
	return k.Driver.MapPartitions(ctx, ds, task, b)
}

// A worker killed with SIGKILL in the middle of a training job: the job
// finishes on the survivors, which re-read the lost partitions from the log
// (or, for ALS's rating blocks, get them again from the driver), and
// publishes the model a run without failure publishes.
func TestJobSIGKILLMidJobIdenticalModel(t *testing.T) {
	for _, be := range []struct {
		name string
		open func(t *testing.T) (log.Log, string)
	}{{"kafka", kafkaJobLog}, {"dir", diskJobLog}} {
		t.Run(be.name, func(t *testing.T) {
			l, spec := be.open(t)
			jobData(t, l)
			for _, job := range []struct {
				name, spec string
				at         int64
			}{{"logistic", lrSpec, 5}, {"logistic, parsed once", cachedSpec, 5}, {"kmeans", kmeansSpec, 8}, {"als", alsSpec, 6}} {
				want, wantRes := runJob(t, l, job.spec, nil, nil)
				d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second, Log: spec})
				cmds := startWorkers(t, d, 3, "")
				x := &killCluster{Driver: d, n: job.at, kill: func() { cmds[1].Process.Kill() }}
				got, gotRes := runJob(t, l, job.spec, x, nil)
				if x.calls.Load() <= job.at {
					t.Fatalf("%s: the job ran %d tasks; the kill came after it", job.name, x.calls.Load())
				}
				t.Logf("%s: worker killed at task %d of %d", job.name, job.at, x.calls.Load())
				sameArtifact(t, job.name+" after a SIGKILL", got, want, gotRes, wantRes)
				// The loss is noticed by a failed call, or at the latest by the
				// heartbeat timeout.
				wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				for d.Workers() != 2 && wctx.Err() == nil {
					time.Sleep(10 * time.Millisecond)
				}
				cancel()
				if n := d.Workers(); n != 2 {
					t.Fatalf("%s: %d live workers after killing one of 3", job.name, n)
				}
			}
		})
	}
}
