package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A read within a budget stops at the first row past it, long before the
// end of a large source, and a read within a large enough budget gives
// ReadSource's block.
func TestReadSourceWithinStopsEarly(t *testing.T) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "%d,%d,%d,%d\n", i%2, i, i*2, i*3)
	}
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := Source{Kind: "file", Path: path, To: -1, Format: Format{Kind: "csv"}}
	ctx := context.Background()
	full, err := ReadSource(ctx, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 4000 // bytes: 100 rows of 3 features and a label hold 3200
	_, err = ReadSourceWithin(ctx, nil, src, budget)
	var over *ErrOverBudget
	if !errors.As(err, &over) {
		t.Fatalf("a %d-byte partition read within %d bytes: %v", full.Bytes(), budget, err)
	}
	if over.Rows > 130 || over.Bytes <= budget || over.Bytes > budget+32 || !strings.Contains(err.Error(), "more than the 4000 allowed") {
		t.Fatalf("the read stopped after %d rows holding %d bytes: %v", over.Rows, over.Bytes, err)
	}
	got, err := ReadSourceWithin(ctx, nil, src, full.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != full.Rows || got.Bytes() != full.Bytes() || got.X[len(got.X)-1] != full.X[len(full.X)-1] {
		t.Fatalf("within a budget of its size: %d rows, %d bytes; ReadSource: %d rows, %d bytes", got.Rows, got.Bytes(), full.Rows, full.Bytes())
	}
}
