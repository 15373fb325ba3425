package predlog

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/internal/jsonscan"
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

// benchBodies is a request of rows rows of 100 numeric fields and its
// classifier's response.
func benchBodies(rows int) (req, resp []byte) {
	var rq, rs strings.Builder
	rq.WriteString(`{"rows": [`)
	rs.WriteString(`{"model":"bench","version":1,"classes":["0","1"],"predictions":[`)
	for i := range rows {
		if i > 0 {
			rq.WriteByte(',')
			rs.WriteByte(',')
		}
		rq.WriteByte('{')
		for j := range 100 {
			if j > 0 {
				rq.WriteByte(',')
			}
			fmt.Fprintf(&rq, `"f%d": %.6f`, j, float64(i*j)/7)
		}
		rq.WriteByte('}')
		rs.WriteString(`{"class":"1","index":1,"probabilities":[0.2,0.8]}`)
	}
	rq.WriteString(`]}`)
	rs.WriteString(`]}`)
	return []byte(rq.String()), []byte(rs.String())
}

// BenchmarkRecord is the writer's work per logged request, off the
// request path: the copy Offer makes (on the request path) and the
// record's header.
//
//	go test ./serving/predlog -run '^$' -bench 'Record$' -benchmem
func BenchmarkRecord(b *testing.B) {
	for _, rows := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			req, resp := benchBodies(rows)
			w := &Writer{cfg: Config{QueueBytes: 1 << 30, QueueRequests: 1}.withDefaults(), queue: make(chan queued, 1)}
			w.bufs.New = func() any { return new([]byte) }
			w.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})
			w.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"result"})
			e := Entry{ID: "0123456789abcdef-1", Time: time.Now(), Model: "bench", Version: 1, Request: req, Response: resp}
			var hdr []byte
			b.SetBytes(int64(len(req) + len(resp)))
			b.ReportAllocs()
			for b.Loop() {
				if !w.Offer(e) {
					b.Fatal("dropped")
				}
				q := <-w.queue
				w.bytes.Add(-q.n)
				var v []byte
				if v, hdr = w.record(hdr, q); v == nil {
					b.Fatal("malformed")
				}
				w.putBuf(q.buf)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
		})
	}
}

// BenchmarkDecodeRows is a reader's work per logged request (the joiner's,
// the monitor's): checking the record's syntax and splitting it into rows.
//
//	go test ./serving/predlog -run '^$' -bench DecodeRows -benchmem
func BenchmarkDecodeRows(b *testing.B) {
	for _, rows := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			req, resp := benchBodies(rows)
			v := appendHeader(nil, "0123456789abcdef-1", time.Now(), "bench", 1)
			v = append(append(append(append(v, req...), between...), resp...), '}')
			var recs []Record
			b.SetBytes(int64(len(v)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if recs, err = DecodeRows(recs[:0], v); err != nil || len(recs) != rows {
					b.Fatal(err, len(recs))
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
