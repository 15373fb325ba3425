package batch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkPredict scores 100 000 CSV rows (the clicks file 100 times)
// through the fitted pipeline and a logistic model on an in-process engine
// of 2 workers, 4 partitions: rows/s, beside the server's (go test
// ./serving -run '^$' -bench Serve).
func BenchmarkPredict(b *testing.B) {
	t := &testing.T{}
	art, csv := trained(t)
	if t.Failed() {
		b.Fatal("training the benchmark's model failed")
	}
	data, err := os.ReadFile(csv)
	if err != nil {
		b.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n")
	big := filepath.Join(b.TempDir(), "big.csv")
	if err := os.WriteFile(big, []byte(head+"\n"+strings.Repeat(body, 100)), 0o644); err != nil {
		b.Fatal(err)
	}
	rows := 0
	b.ResetTimer()
	for range b.N {
		res, err := predict(t, 2, art, []string{big}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
