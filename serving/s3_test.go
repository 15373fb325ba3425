package serving

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/s3/s3test"
)

// TestMain lets TestServeFromS3 share one MinIO server (started on first
// use, by s3test) and stops it at the end.
func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// TestServeFromS3 serves from a registry in a real S3 server (MinIO on
// loopback): the first load, a hot swap to a new version, and an alias
// move through the admin API.
func TestServeFromS3(t *testing.T) {
	reg := models.NewRegistry(s3test.Shared(t).NewStore(t))
	publish(t, reg, "price", priceModel(100).artifact(t))
	ts := startServer(t, Config{Registry: reg, WatchInterval: 50 * time.Millisecond})
	ts.waitReady(t)

	value := func(path string) (int, float64) {
		var got predictResponse
		ts.json(t, "POST", path, `{"row": {"x": 0}}`, &got)
		return got.Version, *got.Predictions[0].Value
	}
	if v, val := value("/v1/models/price/predict"); v != 1 || math.Abs(val-100) > 1e-6 {
		t.Fatalf("version %d value %v, want 1 and 100", v, val)
	}
	publish(t, reg, "price", priceModel(200).artifact(t))
	waitFor(t, "version 2 from S3", func() bool { v, _ := value("/v1/models/price/predict"); return v == 2 })

	var resp map[string]any
	ts.json(t, "PUT", "/v1/models/price/aliases/production", `{"version": 1}`, &resp)
	if v, val := value("/v1/models/price/aliases/production/predict"); v != 1 || math.Abs(val-100) > 1e-6 {
		t.Fatalf("production: version %d value %v", v, val)
	}
	m, err := reg.Describe(context.Background(), "price")
	if err != nil || m.Aliases["production"] != 1 {
		t.Fatalf("the alias in S3: %+v, %v", m, err)
	}
}
