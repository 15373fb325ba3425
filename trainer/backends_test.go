package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/s3/s3test"
)

// TestMain shares one MinIO server among the tests that need S3.
func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// The same job trains from Kafka (a Kafka-protocol broker over TCP) and
// publishes to S3 (a real MinIO server), the scale-out backends.
func TestJobOnKafkaAndS3(t *testing.T) {
	ctx := context.Background()
	l, err := kafka.New(ctx, kafka.Config{Brokers: kafkatest.Brokers(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	topic := fmt.Sprintf("trainer-kafka-%d", rand.Uint32())
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	recs := make([]log.Record, 1200)
	for i := range recs {
		x := r.NormFloat64()
		y := 0
		if 3*x+0.2*r.NormFloat64() > 0 {
			y = 1
		}
		b, _ := json.Marshal(map[string]any{"x": x, "y": y})
		recs[i] = log.Record{Key: []byte(fmt.Sprint(i)), Value: b}
	}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(s3test.Shared(t).NewStore(t))
	yaml := fmt.Sprintf(`
name: on-kafka
source: {topic: %s}
schema: {fields: [{name: x, type: numeric}, {name: y, type: numeric}], label: y}
algorithm: {logistic_regression: {}}
output: {alias: production}
`, topic)
	spec, err := ParseSpec("job.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, spec, Options{Log: l, Registry: reg, SpecText: yaml})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 1200 || res.Metrics["accuracy"] < 0.9 || res.Alias != "production" {
		t.Fatalf("result %+v", res)
	}
	art, vi, err := reg.GetAlias(ctx, "on-kafka", "production")
	if err != nil || vi.Version != 1 || len(art.Lineage) != 3 || art.Lineage[0].Topic != topic {
		t.Fatalf("artefact from S3: %v, %+v", err, vi)
	}
}
