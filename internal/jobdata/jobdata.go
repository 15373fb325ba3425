// Package jobdata generates the synthetic records that tests of whole
// training jobs read — clicks for classification, blobs for k-means,
// ratings for ALS — and appends them to a log, so the tests of worker
// processes and the fault test across simulated hosts train on the same
// kinds of data from one definition. The records are CSV lines; their
// schemas are in the tests' job specs.
package jobdata

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/flintml/flint/log"
)

// Sizes says how many records of each topic Generate makes, and how many
// distinct users and items the ratings have.
type Sizes struct {
	Clicks, Blobs, Ratings int
	Users, Items           int
}

// Generate returns the records of the topics "clicks" (y,a,b,c,colour: a
// logistic model of a, b, c and the colour), "blobs" (a,b,c: four Gaussian
// clusters) and "ratings" (user,item,rating), drawn from one seeded stream.
func Generate(seed uint64, n Sizes) map[string][]string {
	r := rand.New(rand.NewPCG(seed, seed+1))
	topics := map[string][]string{}
	colours := []string{"red", "green", "blue"}
	for range n.Clicks {
		a, b, c := r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
		col := colours[r.IntN(3)]
		z := 1.5*a - b + 0.5*c
		if col == "red" {
			z++
		}
		y := 0
		if r.Float64() < 1/(1+math.Exp(-z)) {
			y = 1
		}
		topics["clicks"] = append(topics["clicks"], fmt.Sprintf("%d,%.6f,%.6f,%.6f,%s", y, a*3+1, b, c*10, col))
	}
	for range n.Blobs {
		k := float64(r.IntN(4))
		topics["blobs"] = append(topics["blobs"], fmt.Sprintf("%.6f,%.6f,%.6f", 5*k+r.NormFloat64(), -3*k+r.NormFloat64(), r.NormFloat64()))
	}
	for range n.Ratings {
		u, i := r.IntN(n.Users), r.IntN(n.Items)
		topics["ratings"] = append(topics["ratings"], fmt.Sprintf("%d,%d,%.1f", u, i, 1+float64((u*7+i*3)%5)+0.1*r.NormFloat64()))
	}
	return topics
}

// Append creates each topic with partitions partitions and appends its
// records, keyed by their index so that they spread over the partitions.
func Append(ctx context.Context, l log.Log, topics map[string][]string, partitions int) error {
	for topic, lines := range topics {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: partitions}); err != nil {
			return err
		}
		recs := make([]log.Record, len(lines))
		for i, line := range lines {
			recs[i] = log.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(line)}
		}
		if err := l.Append(ctx, topic, recs); err != nil {
			return fmt.Errorf("jobdata: append to %s: %w", topic, err)
		}
	}
	return nil
}
