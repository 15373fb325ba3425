package remote

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/serving/batch"
)

// Batch prediction on 3 worker processes, each reading its own partitions
// of the topic, equals in-process scoring byte for byte: a classifier with
// probabilities, a regressor, k-means and the linear SVM.
func TestBatchPredictOnWorkersEqualsInProcess(t *testing.T) {
	l, spec := diskJobLog(t)
	jobData(t, l)
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Log: spec})
	startWorkers(t, d, 3, "")
	ctx := context.Background()
	for _, job := range []struct{ name, spec, topic, want string }{
		{"logistic", lrSpec, "clicks", `"probabilities":[`},
		{"linear", linearSpec, "clicks", `"value":`},
		{"kmeans", kmeansSpec, "blobs", `"cluster":`},
		{"linear svm", svmSpec, "clicks", `"index":`},
	} {
		art, _ := runJob(t, l, job.spec, nil, nil)
		sources, err := cluster.PlanLog(ctx, l, job.topic, cluster.LogOptions{Split: 2})
		if err != nil {
			t.Fatal(err)
		}
		e := cluster.NewEngine(cluster.Config{Workers: 2})
		want, err := batch.Predict(ctx, e, l, art, sources, batch.Options{})
		e.Close()
		if err != nil {
			t.Fatalf("%s in process: %v", job.name, err)
		}
		got, err := batch.Predict(ctx, d, l, art, sources, batch.Options{})
		if err != nil {
			t.Fatalf("%s on workers: %v", job.name, err)
		}
		if !bytes.Equal(got.Lines, want.Lines) || got.Rows != want.Rows || want.Rows == 0 {
			t.Fatalf("%s: %d lines on the workers, %d in process, not the same bytes", job.name, got.Rows, want.Rows)
		}
		first, _, _ := strings.Cut(string(want.Lines), "\n")
		if !strings.Contains(first, job.want) || !strings.HasPrefix(first, `{"source":"`+job.topic+`/`) {
			t.Errorf("%s: the first prediction is %s", job.name, first)
		}
	}
}
