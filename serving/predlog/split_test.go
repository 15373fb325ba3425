package predlog

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/internal/jsonscan"
	"github.com/flintml/flint/log"
)

// FuzzSplit: wherever the fast splitter vouches for its result, it is the
// one of the validating scanner.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		`{"rows": [{"a": 1}, {"b": "x,]}"}]}`, `{"row": {"a": [1, 2]}, "x": null}`, `{}`, `{"rows": []}`,
		`{"predictions":[{"value":1},{"class":"a\"b"}], "model":"m"}`, `{"rows": [1 2]}`, `{"r\u006fws": [1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sc jsonscan.Scanner
		for _, keys := range [][2]string{{"rows", "row"}, {"predictions", ""}} {
			fast, ok := splitFast(nil, b, keys[0], keys[1])
			if !ok {
				continue
			}
			slow, err := members(&sc, nil, b, keys[0], keys[1])
			if err != nil {
				continue // not JSON: the server never queues such a body
			}
			if !slices.Equal(fast, slow) {
				t.Fatalf("%q: fast %v, validating %v", b, fast, slow)
			}
		}
	})
}

// BenchmarkAppendRecords is the writer's work per logged request, off the
// request path: splitting the request and response and building one
// record per row (100 numeric fields a row).
//
//	go test ./serving/predlog -run '^$' -bench AppendRecords -benchmem
func BenchmarkAppendRecords(b *testing.B) {
	for _, rows := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			var req, resp strings.Builder
			req.WriteString(`{"rows": [`)
			resp.WriteString(`{"model":"bench","version":1,"classes":["0","1"],"predictions":[`)
			for i := range rows {
				if i > 0 {
					req.WriteByte(',')
					resp.WriteByte(',')
				}
				req.WriteByte('{')
				for j := range 100 {
					if j > 0 {
						req.WriteByte(',')
					}
					fmt.Fprintf(&req, `"f%d": %.6f`, j, float64(i*j)/7)
				}
				req.WriteByte('}')
				resp.WriteString(`{"class":"1","index":1,"probabilities":[0.2,0.8]}`)
			}
			req.WriteString(`]}`)
			resp.WriteString(`]}`)
			q := queued{id: "0123456789abcdef-1", time: time.Now(), model: "bench", version: 1,
				buf: []byte(req.String() + resp.String()), split: req.Len()}
			var sc jsonscan.Scanner
			var spans [2][]span
			recs := make([]log.Record, 0, rows)
			b.SetBytes(int64(len(q.buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if recs, err = appendRecords(recs[:0], &sc, &spans, q); err != nil || len(recs) != rows {
					b.Fatal(err, len(recs))
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
