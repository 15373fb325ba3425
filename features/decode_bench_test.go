package features

import (
	"fmt"
	"testing"
)

// benchRecords are JSON records of houseSchema, as a log topic holds them:
// numbers, categories, an optional field left out or null.
func benchRecords(n int) [][]byte {
	recs := make([][]byte, n)
	cities := []string{"oslo", "bergen", "trondheim", "stavanger"}
	for i := range recs {
		area := fmt.Sprintf("%d.5", 40+i%90)
		if i%7 == 0 {
			area = "null"
		}
		recs[i] = fmt.Appendf(nil, `{"rooms": %d, "area": %s, "city": %q, "price": %d.25, "kind": "%s"}`,
			1+i%6, area, cities[i%len(cities)], 100000+i*37, []string{"flat", "house"}[i%2])
	}
	return recs
}

// BenchmarkDecodeJSON is Schema.Decode of JSON records into a reused row:
// the work every path reading a JSON topic does per record.
//
//	go test ./features -run '^$' -bench DecodeJSON
func BenchmarkDecodeJSON(b *testing.B) {
	s := houseSchema
	recs := benchRecords(1024)
	row := s.NewRow()
	var size int64
	for _, r := range recs {
		size += int64(len(r))
	}
	b.SetBytes(size / int64(len(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Decode(row, recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
