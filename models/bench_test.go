package models_test

import (
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/models/s3/s3test"
)

// BenchmarkPublishGet publishes a 10 MB artefact and reads it back, on the
// local store (with its fsyncs) and on MinIO over loopback. MB/s counts the
// artefact once per publish+get; publish-MB/s and get-MB/s split the two.
//
//	go test ./models -run '^$' -bench PublishGet -benchtime 20x -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkPublishGet(b *testing.B) {
	const size = 10 << 20
	stores := []struct {
		name string
		open func(b *testing.B) models.Store
	}{
		{"local", func(b *testing.B) models.Store {
			s, err := local.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"s3", func(b *testing.B) models.Store { return s3test.Shared(b).NewStore(b) }},
	}
	a := bigArtifact(1, size)
	for _, st := range stores {
		b.Run("store="+st.name+"/size=10MB", func(b *testing.B) {
			r := models.NewRegistry(st.open(b))
			ctx := ctxT(b)
			b.SetBytes(size)
			var pub, get time.Duration
			for b.Loop() {
				t0 := time.Now()
				v, err := r.Publish(ctx, "bench", a)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, _, err := r.Get(ctx, "bench", v); err != nil {
					b.Fatal(err)
				}
				pub, get = pub+t1.Sub(t0), get+time.Since(t1)
				if err := r.DeleteVersion(ctx, "bench", v); err != nil { // keep the disk from filling
					b.Fatal(err)
				}
			}
			n := float64(b.N) * size / 1e6
			b.ReportMetric(n/pub.Seconds(), "publish-MB/s")
			b.ReportMetric(n/get.Seconds(), "get-MB/s")
		})
	}
}
