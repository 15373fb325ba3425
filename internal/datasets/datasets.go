// Package datasets loads the real data sets Flint's tests, examples and
// benchmarks use: Fashion-MNIST (IDX files, as Debian's dataset-fashion-mnist
// installs them) and scikit-learn's bundled classics. It reads them from
// $FLINT_DATA, or from ../shared/data beside the repository.
package datasets

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Set is a data set as flat row-major features and labels.
type Set struct {
	Rows, Cols int
	X          []float64 // Rows*Cols, row-major
	Y          []float64 // Rows labels
	Classes    int       // number of classes (0 for regression)
}

// Dir returns the data directory: $FLINT_DATA if set, else the shared/data
// folder beside the repository root. The error says where it looked.
func Dir() (string, error) {
	if d := os.Getenv("FLINT_DATA"); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("datasets: FLINT_DATA=%s is not a directory", d)
		}
		return d, nil
	}
	_, file, _, _ := runtime.Caller(0) // .../internal/datasets/datasets.go
	root := filepath.Join(filepath.Dir(file), "..", "..")
	d := filepath.Clean(filepath.Join(root, "..", "shared", "data"))
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return "", fmt.Errorf("datasets: no data directory: looked at %s (set FLINT_DATA to the folder holding fashion-mnist/ and sklearn/)", d)
	}
	return d, nil
}

// Path returns the path of a file under the data directory, failing with a
// message naming where it looked when the file is missing.
func Path(rel string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("datasets: %s not found (data directory %s; see its README.md for how to get it)", p, d)
	}
	return p, nil
}

// FashionMNIST loads the "train" (60 000) or "test" (10 000) split with
// pixels scaled to [0, 1] and labels 0–9.
func FashionMNIST(split string) (*Set, error) {
	prefix := map[string]string{"train": "train", "test": "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("datasets: Fashion-MNIST split %q: want train or test", split)
	}
	ip, err := Path("fashion-mnist/" + prefix + "-images-idx3-ubyte.gz")
	if err != nil {
		return nil, err
	}
	lp, err := Path("fashion-mnist/" + prefix + "-labels-idx1-ubyte.gz")
	if err != nil {
		return nil, err
	}
	pix, dims, err := readIDX(ip, 0x803)
	if err != nil {
		return nil, err
	}
	labels, ldims, err := readIDX(lp, 0x801)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 || len(ldims) != 1 || dims[0] != ldims[0] {
		return nil, fmt.Errorf("datasets: %s and %s disagree: dims %v and %v", ip, lp, dims, ldims)
	}
	s := &Set{Rows: dims[0], Cols: dims[1] * dims[2], Classes: 10}
	s.X = make([]float64, len(pix))
	for i, p := range pix {
		s.X[i] = float64(p) / 255
	}
	s.Y = make([]float64, len(labels))
	for i, l := range labels {
		if l > 9 {
			return nil, fmt.Errorf("datasets: %s: label %d at item %d is not 0–9", lp, l, i)
		}
		s.Y[i] = float64(l)
	}
	return s, nil
}

// readIDX reads a gzip'd IDX file with the given magic number.
func readIDX(path string, magic uint32) ([]byte, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("datasets: %s: %w", path, err)
	}
	br := bufio.NewReader(zr)
	var m uint32
	if err := binary.Read(br, binary.BigEndian, &m); err != nil {
		return nil, nil, fmt.Errorf("datasets: %s: header: %w", path, err)
	}
	if m != magic {
		return nil, nil, fmt.Errorf("datasets: %s: magic %#x, want %#x", path, m, magic)
	}
	nd := int(m & 0xff)
	dims := make([]int, nd)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("datasets: %s: dimension %d: %w", path, i, err)
		}
		dims[i] = int(d)
		total *= int(d)
	}
	data := make([]byte, total)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, nil, fmt.Errorf("datasets: %s: want %d bytes of data: %w", path, total, err)
	}
	return data, dims, nil
}

// Sklearn loads one of scikit-learn's bundled classification sets in
// shared/data/sklearn: "iris", "wine" or "breast_cancer" (a header line
// "rows,features,class names..." then rows of features and a class index),
// or "digits" (no header; 64 pixels then the digit).
func Sklearn(name string) (*Set, error) {
	switch name {
	case "iris", "breast_cancer":
		return readSklearnCSV("sklearn/"+name+".csv", true)
	case "wine":
		return readSklearnCSV("sklearn/wine_data.csv", true)
	case "digits":
		return readSklearnCSV("sklearn/digits.csv.gz", false)
	}
	return nil, fmt.Errorf("datasets: unknown scikit-learn set %q: want iris, wine, breast_cancer or digits", name)
}

func readSklearnCSV(rel string, header bool) (*Set, error) {
	p, err := Path(rel)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(p, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("datasets: %s: %w", p, err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	s := &Set{}
	line := 0
	maxClass := 0.0
	for sc.Scan() {
		line++
		fields := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if line == 1 && header {
			if len(fields) < 2 {
				return nil, fmt.Errorf("datasets: %s:1: header %q", p, sc.Text())
			}
			s.Cols, _ = strconv.Atoi(fields[1])
			s.Classes = len(fields) - 2
			continue
		}
		if len(fields) < 2 {
			continue
		}
		if s.Cols == 0 {
			s.Cols = len(fields) - 1
		}
		if len(fields) != s.Cols+1 {
			return nil, fmt.Errorf("datasets: %s:%d: %d fields, want %d", p, line, len(fields), s.Cols+1)
		}
		for i, fv := range fields {
			v, err := strconv.ParseFloat(fv, 64)
			if err != nil {
				return nil, fmt.Errorf("datasets: %s:%d: field %d %q: %w", p, line, i+1, fv, err)
			}
			if i == s.Cols {
				s.Y = append(s.Y, v)
				maxClass = max(maxClass, v)
			} else {
				s.X = append(s.X, v)
			}
		}
		s.Rows++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("datasets: %s: %w", p, err)
	}
	if s.Rows == 0 {
		return nil, errors.New("datasets: " + p + ": no rows")
	}
	if s.Classes == 0 {
		s.Classes = int(maxClass) + 1
	}
	return s, nil
}

// Diabetes loads scikit-learn's diabetes regression set (442 × 10).
func Diabetes() (*Set, error) {
	xp, err := Path("sklearn/diabetes_data_raw.csv.gz")
	if err != nil {
		return nil, err
	}
	yp, err := Path("sklearn/diabetes_target.csv.gz")
	if err != nil {
		return nil, err
	}
	x, cols, err := readSpaceFloats(xp)
	if err != nil {
		return nil, err
	}
	y, _, err := readSpaceFloats(yp)
	if err != nil {
		return nil, err
	}
	if len(x) != cols*len(y) {
		return nil, fmt.Errorf("datasets: %s has %d values for %d targets", xp, len(x), len(y))
	}
	return &Set{Rows: len(y), Cols: cols, X: x, Y: y}, nil
}

func readSpaceFloats(p string) ([]float64, int, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, 0, fmt.Errorf("datasets: %s: %w", p, err)
	}
	sc := bufio.NewScanner(zr)
	var out []float64
	cols, line := 0, 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if cols == 0 {
			cols = len(fields)
		}
		if len(fields) != cols {
			return nil, 0, fmt.Errorf("datasets: %s:%d: %d fields, want %d", p, line, len(fields), cols)
		}
		for _, fv := range fields {
			v, err := strconv.ParseFloat(fv, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("datasets: %s:%d: %w", p, line, err)
			}
			out = append(out, v)
		}
	}
	return out, cols, sc.Err()
}
