package features

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// fashionRecords are n Fashion-shaped records (a label 0–9 and 784 pixels
// 0–255, half of them 0) as CSV lines and as binary records of each
// encoding, with their schema.
func fashionRecords(n int) (Schema, map[string][][]byte) {
	s := Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 784}}, Label: "label"}
	r := rand.New(rand.NewPCG(1, 2))
	recs := map[string][][]byte{}
	row := s.NewRow()
	for range n {
		line := strconv.AppendInt(nil, int64(r.IntN(10)), 10)
		line = append(line, ',')
		for j := 0; j < 784; j++ {
			if j > 0 {
				line = append(line, ' ')
			}
			v := 0
			if r.IntN(2) == 0 {
				v = r.IntN(256)
			}
			line = strconv.AppendInt(line, int64(v), 10)
		}
		recs["csv"] = append(recs["csv"], line)
		if err := s.Decode(row, line); err != nil {
			panic(err)
		}
		for _, enc := range []Encoding{Float32, Float64} {
			b, err := s.AppendBinary(nil, row, enc)
			if err != nil {
				panic(err)
			}
			recs[enc.String()] = append(recs[enc.String()], b)
		}
	}
	return s, recs
}

// BenchmarkDecodeBinary decodes 784-wide Fashion-shaped records: binary f32
// and f64 records against the same rows as CSV text (the CSV byte decoder).
// level=schema is Schema.Decode into a reused row; level=cache is the
// decoder that caches raw rows for a parse-once job (Pipeline.RawFormat),
// into a block. GB/s counts the records' bytes.
//
//	go test ./features -run '^$' -bench DecodeBinary -count 3
func BenchmarkDecodeBinary(b *testing.B) {
	s, recs := fashionRecords(256)
	p, err := New(s, []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "scaled"}})
	if err != nil {
		b.Fatal(err)
	}
	for _, level := range []string{"schema", "cache"} {
		for _, enc := range []string{"csv", "f32", "f64"} {
			b.Run(fmt.Sprintf("level=%s/enc=%s", level, enc), func(b *testing.B) {
				rs := recs[enc]
				var size int64
				for _, r := range rs {
					size += int64(len(r))
				}
				row := s.NewRow()
				d := &rawDecoder{p: p, t: p.NewTransformer(), row: p.Schema.NewRow(), w: p.rawWidth()}
				bb := cluster.NewDenseBuilder(d.w, len(rs))
				b.SetBytes(size / int64(len(rs)))
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					var err error
					if level == "schema" {
						err = s.Decode(row, rs[n%len(rs)])
					} else {
						if n%len(rs) == 0 {
							bb = cluster.NewDenseBuilder(d.w, len(rs))
						}
						err = d.Decode(bb, rs[n%len(rs)])
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(n)/sec, "records/s")
				b.ReportMetric(float64(n)*float64(size)/float64(len(rs))/sec/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkLoadBinaryTopic caches 5 000 Fashion-shaped records from a topic
// of the embedded log (4 partitions, 2 workers) as a parse-once job does
// (Pipeline.RawFormat): the records as CSV text against binary f32 and f64
// records. A CPU profile shows where the time goes:
//
//	go test ./features -run '^$' -bench LoadBinaryTopic -benchtime 5x -count 3
//	go test ./features -run '^$' -bench 'LoadBinaryTopic/enc=f32' -benchtime 20x -cpuprofile cpu.out && go tool pprof -top -cum cpu.out
func BenchmarkLoadBinaryTopic(b *testing.B) {
	const n = 5000
	s, recs := fashionRecords(n)
	p, err := New(s, []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "scaled"}})
	if err != nil {
		b.Fatal(err)
	}
	fm, err := p.RawFormat(false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, enc := range []string{"csv", "f32", "f64"} {
		b.Run("enc="+enc, func(b *testing.B) {
			l, err := disk.Open(disk.Config{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := make([]log.Record, len(recs[enc]))
			var size int64
			for i, r := range recs[enc] {
				batch[i] = log.Record{Key: []byte(strconv.Itoa(i)), Value: r}
				size += int64(len(r))
			}
			if err := l.Append(ctx, "px", batch); err != nil {
				b.Fatal(err)
			}
			e := cluster.NewEngine(cluster.Config{Workers: 2})
			defer e.Close()
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				ds, err := e.LoadLog(ctx, l, "px", cluster.LogOptions{Format: fm})
				if err != nil {
					b.Fatal(err)
				}
				if ds.Rows() != n {
					b.Fatalf("cached %d rows of %d", ds.Rows(), n)
				}
				e.Drop(ds)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
