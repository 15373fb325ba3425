package jobs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// algorithmSpecs are one small job per algorithm, reading files.
func algorithmSpecs(t *testing.T) map[string]string {
	r := rand.New(rand.NewPCG(11, 12))
	var points, xor, ratings []string
	for i := range 600 {
		c := [][2]float64{{0, 0}, {10, 10}, {-10, 10}}[i%3]
		points = append(points, fmt.Sprintf(`{"x": %v, "y": %v}`, c[0]+r.NormFloat64(), c[1]+r.NormFloat64()))
		x, y := r.Float64()*2-1, r.Float64()*2-1
		cl := 0
		if x*y > 0 {
			cl = 1
		}
		xor = append(xor, fmt.Sprintf(`{"x": %v, "y": %v, "c": %d}`, x, y, cl))
	}
	for u := range 60 {
		for it := range 40 {
			if r.Float64() < 0.4 {
				ratings = append(ratings, fmt.Sprintf(`{"user": %d, "item": %d, "rating": %v}`, u, it, float64(1+(u*it)%5)))
			}
		}
	}
	num := func(names ...string) string {
		var f []string
		for _, n := range names {
			f = append(f, fmt.Sprintf("{name: %s, type: numeric}", n))
		}
		return "[" + strings.Join(f, ", ") + "]"
	}
	return map[string]string{
		"logistic": jobSpec("lc-logistic", clicksCSV(t)),
		"kmeans": fmt.Sprintf("name: lc-kmeans\nsource: {files: [%q]}\nschema: {fields: %s}\nalgorithm: {kmeans: {k: 3, seed: 7}}\n",
			writeLines(t, "points.jsonl", points), num("x", "y")),
		"als": fmt.Sprintf("name: lc-als\nsource: {files: [%q]}\nschema: {fields: %s}\nalgorithm: {als: {user: user, item: item, rating: rating, rank: 2, max_iter: 6}}\n",
			writeLines(t, "ratings.jsonl", ratings), num("user", "item", "rating")),
		"mlp": fmt.Sprintf("name: lc-mlp\nsource: {files: [%q]}\nschema: {fields: %s, label: c}\nalgorithm: {mlp: {hidden_layers: [4], batch_size: 100, max_iter: 30, seed: 2}}\n",
			writeLines(t, "xor.jsonl", xor), num("x", "y", "c")),
	}
}

func writeLines(t testing.TB, name string, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
