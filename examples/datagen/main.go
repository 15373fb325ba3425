// Command datagen writes the example data sets as lines that `flint ingest`
// reads: Fashion-MNIST from the shared data folder, and synthetic sets with
// a known answer for regression, clustering and recommendation.
//
//	go run ./examples/datagen fashion-train > fashion-train.csv
//	go run ./examples/datagen houses | flint ingest --topic houses --schema examples/houses.yaml
package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/flintml/flint/internal/datasets"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: datagen fashion-train|fashion-test|houses|blobs|ratings|fraud|fraud-batches")
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := write(w, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "datagen:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "datagen:", err)
		os.Exit(1)
	}
}

func write(w *bufio.Writer, set string) error {
	switch set {
	case "fashion-train", "fashion-test":
		s, err := datasets.FashionMNIST(set[len("fashion-"):])
		if err != nil {
			return err
		}
		// label,pixel pixel ... (pixels 0–255, as in the IDX files)
		var buf []byte
		for i := 0; i < s.Rows; i++ {
			buf = strconv.AppendInt(buf[:0], int64(s.Y[i]), 10)
			buf = append(buf, ',')
			for j := 0; j < s.Cols; j++ {
				if j > 0 {
					buf = append(buf, ' ')
				}
				buf = strconv.AppendInt(buf, int64(math.Round(s.X[i*s.Cols+j]*255)), 10)
			}
			buf = append(buf, '\n')
			w.Write(buf)
		}
	case "houses":
		// price = 50·area + 20 000·rooms + city premium + noise, as JSON.
		r := rand.New(rand.NewPCG(1, 1))
		premium := map[string]float64{"paris": 150000, "lyon": 60000, "nice": 90000, "lille": 20000}
		cities := []string{"paris", "lyon", "nice", "lille"}
		for i := 0; i < 20000; i++ {
			area := 20 + r.Float64()*180
			rooms := 1 + r.IntN(6)
			city := cities[r.IntN(len(cities))]
			price := 50*area*10 + 20000*float64(rooms) + premium[city] + r.NormFloat64()*10000
			fmt.Fprintf(w, `{"id": "h%d", "area": %.1f, "rooms": %d, "city": %q, "price": %.0f}`+"\n", i, area, rooms, city, price)
		}
	case "blobs":
		// Five Gaussian blobs in 8 dimensions, as CSV "x1,...,x8".
		r := rand.New(rand.NewPCG(2, 2))
		centres := make([][]float64, 5)
		for k := range centres {
			centres[k] = make([]float64, 8)
			for j := range centres[k] {
				centres[k][j] = r.Float64()*40 - 20
			}
		}
		for i := 0; i < 50000; i++ {
			c := centres[i%5]
			for j := range c {
				if j > 0 {
					w.WriteByte(',')
				}
				w.WriteString(strconv.FormatFloat(c[j]+r.NormFloat64()*2, 'f', 3, 64))
			}
			w.WriteByte('\n')
		}
	case "ratings":
		// 2 000 users × 1 000 items of rank 5 with noise, about 10 % rated,
		// on a 1–5 scale: "user,item,rating".
		r := rand.New(rand.NewPCG(3, 3))
		const users, items, rank = 2000, 1000, 5
		uf := make([]float64, users*rank)
		itf := make([]float64, items*rank)
		for i := range uf {
			uf[i] = r.NormFloat64() * 0.6
		}
		for i := range itf {
			itf[i] = r.NormFloat64() * 0.6
		}
		for u := 0; u < users; u++ {
			for it := 0; it < items; it++ {
				if r.Float64() >= 0.1 {
					continue
				}
				s := 3.0
				for k := 0; k < rank; k++ {
					s += uf[u*rank+k] * itf[it*rank+k]
				}
				s = math.Max(1, math.Min(5, s+r.NormFloat64()*0.3))
				fmt.Fprintf(w, "%d,%d,%.2f\n", u, it, s)
			}
		}
	case "fraud", "fraud-batches":
		return writeFraud(w, set == "fraud-batches", time.Now())
	default:
		return fmt.Errorf("unknown data set %q: want fashion-train, fashion-test, houses, blobs, ratings, fraud or fraud-batches", set)
	}
	return nil
}
