package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// doubling decodes "x,y" into the row [x, 2x] with label y, scaled by the
// factor in its argument.
type doubling struct{ factor float64 }

func (d doubling) Layout() (bool, int) { return false, 2 }
func (d doubling) Decode(b *Builder, v []byte) error {
	a, c, ok := strings.Cut(string(v), ",")
	if !ok {
		return errors.New("want x,y")
	}
	x, err := strconv.ParseFloat(a, 64)
	if err != nil {
		return fmt.Errorf("x: %v", err)
	}
	y, err := strconv.ParseFloat(c, 64)
	if err != nil {
		return fmt.Errorf("y: %v", err)
	}
	return b.AddDense([]float64{x * d.factor, 2 * x * d.factor}, y, 1)
}

func init() {
	RegisterDecoder("cluster_test.doubling", func(arg []byte) (RowDecoder, error) {
		f, err := strconv.ParseFloat(string(arg), 64)
		if err != nil {
			return nil, fmt.Errorf("factor %q: %v", arg, err)
		}
		return doubling{f}, nil
	})
}

type sumP struct {
	N   int
	Sum float64
}

var sumScan = RegisterScan(&ScanTask[struct{}, sumP]{
	Name: "cluster_test.sum",
	New:  func(*struct{}) *sumP { return &sumP{} },
	Value: func(_ *struct{}, acc *sumP, v []byte, where func() string) error {
		a, _, _ := strings.Cut(string(v), ",")
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("%s: %v", where(), err)
		}
		acc.N++
		acc.Sum += x
		return nil
	},
	Combine: func(dst, src *sumP) { dst.N += src.N; dst.Sum += src.Sum },
})

func TestScanThenLoadWithCustomDecoder(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&sb, "%d,%d\n", i, i%2)
	}
	p := writeFile(t, "pairs.csv", sb.String())
	e := newEngine(t, 2)
	f := Format{Kind: "custom", Decoder: "cluster_test.doubling", Arg: []byte("0.5")}
	sources, err := PlanFiles([]string{p}, FileOptions{Format: f, Partitions: 5})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Scan(context.Background(), e, nil, sources, sumScan, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 300 || got.Sum != 299*300/2 {
		t.Fatalf("scan saw %d lines summing to %v, want 300 and %d", got.N, got.Sum, 299*300/2)
	}
	ds, err := e.LoadSources(context.Background(), nil, "pairs", sources)
	if err != nil {
		t.Fatal(err)
	}
	x, y := allRows(t, e, ds)
	if ds.Rows() != 300 || x[2*10] != 5 || x[2*10+1] != 10 || y[11] != 1 {
		t.Fatalf("custom decoder built rows %v…, labels %v…", x[:4], y[:4])
	}
	bad := Format{Kind: "custom", Decoder: "cluster_test.doubling", Arg: []byte("x")}
	if _, err := PlanFiles([]string{p}, FileOptions{Format: bad}); err == nil || !strings.Contains(err.Error(), `factor "x"`) {
		t.Fatalf("a bad decoder argument = %v", err)
	}
	if _, err := PlanFiles([]string{p}, FileOptions{Format: Format{Kind: "custom", Decoder: "nope"}}); err == nil || !strings.Contains(err.Error(), `unknown decoder "nope"`) {
		t.Fatalf("an unknown decoder = %v", err)
	}
	broken := writeFile(t, "broken.csv", "1,0\n2,1\nthree,0\n")
	bs, _ := PlanFiles([]string{broken}, FileOptions{Format: f})
	if _, err := e.LoadSources(context.Background(), nil, "broken", bs); err == nil || !strings.Contains(err.Error(), "broken.csv:3") || !strings.Contains(err.Error(), "x: ") {
		t.Fatalf("decode error = %v, want it to name broken.csv:3 and field x", err)
	}
}
