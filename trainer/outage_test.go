package trainer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

func newEngine(t *testing.T) *cluster.Engine {
	e := cluster.NewEngine(cluster.Config{Workers: 2, Logger: quietLogger()})
	t.Cleanup(func() { e.Close() })
	return e
}

// outageCluster fails every load as a cluster whose workers lost the log
// does: one error per partition, joined.
type outageCluster struct{ cluster.Cluster }

func (outageCluster) LoadSources(_ context.Context, _ cluster.LogReader, name string, sources []cluster.Source) (*cluster.Dataset, error) {
	errs := make([]error, len(sources))
	for i := range sources {
		errs[i] = fmt.Errorf("worker w%d: read partition %d of %s: broker unreachable (%w)", i, i, name, cluster.ErrUnavailable)
	}
	return nil, fmt.Errorf("remote: load %s: %w", name, errors.Join(errs...))
}

// A load that fails on every partition because the log is unavailable
// fails the job with one line that still marks it transient.
func TestLoadOutageIsOneError(t *testing.T) {
	e := newEnv(t)
	spec, err := ParseSpec("job.yaml", []byte(jobSpec("outage", clicksCSV(t))))
	if err != nil {
		t.Fatal(err)
	}
	spec.Source.Partitions = 4
	_, err = Run(context.Background(), spec, Options{Registry: e.reg, Cluster: outageCluster{newEngine(t)}, Logger: quietLogger()})
	if !errors.Is(err, cluster.ErrUnavailable) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "4 partitions failed") {
		t.Fatalf("job error:\n%v\nwant one line counting the 4 partitions, wrapping ErrUnavailable", err)
	}
}
