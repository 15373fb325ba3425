package stream

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// BenchmarkJoin is the point-in-time backfill on one partition pair:
// 200,000 label records of 10,000 keys (FLINT_BENCH_JOIN_ROWS sets another
// count, e.g. 10000000) joined with as many events by the benchmark
// definition's five sliding-window aggregates, against reading the same
// label records without features (the floor: what a training job without
// streaming features reads). rows/s are label rows out.
func BenchmarkJoin(b *testing.B) {
	n, keys := 200_000, 10_000
	if v, err := strconv.Atoi(os.Getenv("FLINT_BENCH_JOIN_ROWS")); err == nil && v > 0 {
		n = v
	}
	l, err := disk.Open(disk.Config{Dir: filepath.Join(b.TempDir(), "log"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	def, err := Parse("bench.yaml", []byte(benchDefinition))
	if err != nil {
		b.Fatal(err)
	}
	for _, topic := range []string{"tx", "labels"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
			b.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := int64(1_780_000_000_000)
	for _, topic := range []string{"tx", "labels"} {
		batch := make([]log.Record, 0, 5000)
		for i := 0; i < n; i++ {
			card := fmt.Sprintf("c%d", r.IntN(keys))
			at := float64(base+int64(i)*1000+r.Int64N(60_000)) / 1000
			v := fmt.Sprintf(`{"card":%q,"at":%.3f,"amount":%.2f,"merchant":"m%d","label":%d}`, card, at, r.Float64()*100, r.IntN(50), r.IntN(2))
			batch = append(batch, log.Record{Key: []byte(card), Value: []byte(v)})
			if len(batch) == cap(batch) {
				if err := l.Append(ctx, topic, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	labels, err := cluster.PlanLog(ctx, l, "labels", cluster.LogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	joinedSrc, err := PlanJoin(ctx, l, labels, Enrichment{Definition: benchDefinition, File: "bench.yaml", Key: "card", Time: "at"}, def)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		src  cluster.Source
	}{{"without features", labels[0]}, {"with features", joinedSrc[0]}} {
		b.Run(c.name, func(b *testing.B) {
			rows := 0
			for range b.N {
				err := cluster.EachValue(ctx, l, c.src, func([]byte, func() string) error { rows++; return nil })
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkReplicaValues is the feature lookup a server makes for every
// row of a model with streaming features: a key's five aggregates as of the
// request time from a replica of 10,000 keys (ns/op is per key).
func BenchmarkReplicaValues(b *testing.B) {
	def, err := Parse("bench.yaml", []byte(benchDefinition))
	if err != nil {
		b.Fatal(err)
	}
	rep := NewReplica(nil, def, ReplicaConfig{})
	agg := NewAggregator(def)
	evs := genEvents(def, 3, 200_000, 10_000)
	states := map[string]*State{}
	for i := range evs {
		st := states[evs[i].Key]
		if st == nil {
			st = agg.NewState()
			states[evs[i].Key] = st
		}
		agg.Apply(st, &evs[i])
	}
	keys := make([]string, 0, len(states))
	for k, st := range states {
		rep.states[k] = Stored{State: st}
		keys = append(keys, k)
	}
	now := time.Now().UnixMilli()
	dst := make([]float64, len(def.Features))
	b.ResetTimer()
	for i := range b.N {
		rep.Values(keys[i%len(keys)], now, dst)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
