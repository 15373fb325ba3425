package serving

import (
	"context"
	"testing"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// BenchmarkWatchStream is the time from a publish returning in one
// process's registry to a second server, which polls the store once an
// hour and follows the first one's event stream, serving the new version
// (its snapshot swapped in). Both servers and the store (a local
// directory) are on this machine; the model is the small linear one.
//
//	go test ./serving -run '^$' -bench WatchStream -benchtime 20x
func BenchmarkWatchStream(b *testing.B) {
	dir := b.TempDir()
	open := func() *models.Registry {
		st, err := local.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		return models.NewRegistry(st)
	}
	pub := open()
	publish(b, pub, "price", priceModel(1).artifact(b))
	a := startServer(b, Config{Registry: pub, WatchInterval: time.Hour})
	a.waitReady(b)
	sub := startServer(b, Config{Registry: open(), WatchInterval: time.Hour, WatchURL: a.url + "/v1/registry/events"})
	sub.waitReady(b)
	art := priceModel(2).artifact(b)
	var total, worst time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		v := publish(b, pub, "price", art)
		b.StartTimer()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for {
			snap := sub.snap.Load()
			if st := snap.models["price"]; st != nil && st.latest != nil && st.latest.version == v {
				break
			}
			select {
			case <-snap.replaced:
			case <-ctx.Done():
				b.Fatalf("version %d not served within a minute", v)
			}
		}
		cancel()
		d := time.Since(start)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/publish")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
