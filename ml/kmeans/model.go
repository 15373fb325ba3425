package kmeans

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/tile"
)

// Model is a fitted k-means model. It is a plain value: prediction needs no
// engine, and no method modifies it, so one model may serve any number of
// goroutines.
type Model struct {
	K, Dim int
	// Centres holds the K centres, row-major: centre j is
	// Centres[j*Dim : (j+1)*Dim].
	Centres []float64
	// Sizes is how many training rows are nearest each centre.
	Sizes []int64
	// Inertia is Σ w·‖x − c(x)‖² over the training rows, c(x) the nearest
	// centre: scikit-learn's inertia_, MLlib's training cost.
	Inertia float64
	// Silhouette is the mean silhouette coefficient (Euclidean distances,
	// as scikit-learn's silhouette_score) of a seeded sample of the
	// training rows; NaN when it was not computed.
	Silhouette float64
	// Iterations is the number of Lloyd iterations the returned run made,
	// and Converged whether it stopped by Config.Tol rather than MaxIter.
	Iterations int
	Converged  bool
}

func (m *Model) check() error {
	if m.K < 1 || m.Dim < 1 || len(m.Centres) != m.K*m.Dim {
		return fmt.Errorf("kmeans: malformed model: K = %d, Dim = %d, %d centre values", m.K, m.Dim, len(m.Centres))
	}
	return nil
}

func (m *Model) norms() []float64 {
	cn := make([]float64, m.K)
	for j := range cn {
		cn[j] = sqNorm(m.Centres[j*m.Dim : (j+1)*m.Dim])
	}
	return cn
}

// Predict returns the index of the centre nearest to the dense row x.
// Distances are computed exactly as in training, so a training row gets
// the cluster the final pass gave it.
func (m *Model) Predict(x []float64) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if len(x) != m.Dim {
		return 0, fmt.Errorf("kmeans: row has %d features, the model %d", len(x), m.Dim)
	}
	g := make([]float64, m.K)
	for j := range g {
		g[j] = tile.Dot(x, m.Centres[j*m.Dim:(j+1)*m.Dim])
	}
	j, _ := nearest(g, m.norms())
	return j, nil
}

// PredictSparse returns the index of the centre nearest to the sparse row
// with non-zeros val at increasing indices ind.
func (m *Model) PredictSparse(ind []int32, val []float64) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if len(ind) != len(val) {
		return 0, fmt.Errorf("kmeans: sparse row has %d indices and %d values", len(ind), len(val))
	}
	for n, l := range ind {
		if l < 0 || int(l) >= m.Dim || (n > 0 && l <= ind[n-1]) {
			return 0, fmt.Errorf("kmeans: sparse row index %d at position %d is out of order or outside [0, %d)", l, n, m.Dim)
		}
	}
	g := make([]float64, m.K)
	for j := range g {
		g[j] = sparseDot(ind, val, m.Centres[j*m.Dim:(j+1)*m.Dim])
	}
	j, _ := nearest(g, m.norms())
	return j, nil
}

// PredictBatch assigns every row of x (row-major, Dim values a row) to its
// nearest centre, appending the indices to dst[:0] and returning it. Rows
// are scored in blocks against all centres at once, which is several times
// faster than calling Predict per row.
func (m *Model) PredictBatch(dst []int, x []float64) ([]int, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	if len(x)%m.Dim != 0 {
		return dst, fmt.Errorf("kmeans: batch of %d values is not a whole number of %d-feature rows", len(x), m.Dim)
	}
	n, k, d := len(x)/m.Dim, m.K, m.Dim
	dst = slices.Grow(dst[:0], n)
	cn := m.norms()
	g := make([]float64, min(n, tileRows)*k)
	for lo := 0; lo < n; lo += tileRows {
		hi := min(lo+tileRows, n)
		tile.Products(g, x[lo*d:hi*d], hi-lo, m.Centres, k, d)
		for i := range hi - lo {
			j, _ := nearest(g[i*k:(i+1)*k], cn)
			dst = append(dst, j)
		}
	}
	return dst, nil
}

// Score measures m on rows it was not necessarily trained on: their
// inertia (Σ w·‖x − c(x)‖², as Model.Inertia is of the training rows) and
// the silhouette of a sample of at most n of them drawn with seed (NaN
// for n ≤ 0, or when the sample falls in one cluster).
func (m *Model) Score(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, n int, seed uint64) (inertia, silhouette float64, err error) {
	if inertia, _, err = m.Cost(ctx, x, ds); err != nil {
		return 0, 0, err
	}
	silhouette = math.NaN()
	if n > 0 && ds.Rows() > 0 {
		if silhouette, err = sampleSilhouette(ctx, x, ds, m, n, seed); err != nil {
			return 0, 0, err
		}
	}
	return inertia, silhouette, nil
}

// sampleSilhouette computes the silhouette of m on n rows of ds drawn with
// seed.
func sampleSilhouette(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, m *Model, n int, seed uint64) (float64, error) {
	n = min(n, ds.Rows())
	rows, err := fetchRows(ctx, x, ds, sampleRows(ds.Rows(), n, seed))
	if err != nil {
		return 0, fmt.Errorf("kmeans: silhouette sample: %w", err)
	}
	pts := slices.Concat(rows...)
	labels, err := m.PredictBatch(nil, pts)
	if err != nil {
		return 0, err
	}
	return silhouette(pts, n, m.Dim, labels, m.K), nil
}

// silhouette is the mean silhouette coefficient of n rows (width d) with
// the given cluster labels in [0, k), with Euclidean distances: for row i,
// a is its mean distance to the other rows of its cluster, b the smallest
// mean distance to the rows of another cluster, and s = (b − a)/max(a, b);
// a row alone in its cluster scores 0. It is NaN unless at least two
// clusters are present. The n×n distances are computed on all cores.
func silhouette(x []float64, n, d int, labels []int, k int) float64 {
	size := make([]int, k)
	for _, c := range labels {
		size[c]++
	}
	present := 0
	for _, s := range size {
		if s > 0 {
			present++
		}
	}
	if present < 2 {
		return math.NaN()
	}
	xn := make([]float64, n)
	for i := range n {
		xn[i] = sqNorm(x[i*d : (i+1)*d])
	}
	s := make([]float64, n)
	workers := max(1, min(runtime.GOMAXPROCS(0), n/16))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			sum := make([]float64, k)
			g := make([]float64, tileRows*n)
			for blo := lo; blo < hi; blo += tileRows {
				bhi := min(blo+tileRows, hi)
				tile.Products(g, x[blo*d:bhi*d], bhi-blo, x, n, d)
				for i := blo; i < bhi; i++ {
					clear(sum)
					gi := g[(i-blo)*n : (i-blo+1)*n]
					for j, dj := range gi {
						if j != i {
							sum[labels[j]] += math.Sqrt(max(0, xn[i]+xn[j]-2*dj))
						}
					}
					own := labels[i]
					if size[own] < 2 {
						continue // s[i] = 0
					}
					a := sum[own] / float64(size[own]-1)
					b := math.Inf(1)
					for c, sc := range sum {
						if c != own && size[c] > 0 {
							b = min(b, sc/float64(size[c]))
						}
					}
					if m := max(a, b); m > 0 {
						s[i] = (b - a) / m
					}
				}
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, v := range s {
		total += v
	}
	return total / float64(n)
}

// The binary encoding, little-endian throughout:
//
//	magic "FLNTMODL" | version uint16 | kind length uint8 | kind "kmeans" | payload | CRC-32C uint32
//
// The CRC (Castagnoli) covers every byte before it. Version 1's payload:
//
//	K uint32 | Dim uint32 | Iterations uint32 | Converged uint8 | Inertia float64 | Silhouette float64
//	| Centres K×Dim float64 | Sizes K int64
const (
	magic   = "FLNTMODL"
	kind    = "kmeans"
	version = 1
)

// ErrVersion reports an encoding written by a newer (or unknown) version
// of the format.
var ErrVersion = errors.New("kmeans: unsupported model encoding version")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the model in the versioned format above.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if len(m.Sizes) != m.K {
		return nil, fmt.Errorf("kmeans: malformed model: %d sizes for K = %d", len(m.Sizes), m.K)
	}
	b := make([]byte, 0, len(magic)+3+len(kind)+29+8*len(m.Centres)+8*m.K+4)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint16(b, version)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.K))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Dim))
	b = binary.LittleEndian.AppendUint32(b, uint32(m.Iterations))
	conv := byte(0)
	if m.Converged {
		conv = 1
	}
	b = append(b, conv)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Inertia))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.Silhouette))
	for _, v := range m.Centres {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range m.Sizes {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// UnmarshalBinary decodes a model MarshalBinary encoded, replacing m. It
// fails on another kind of model, a bad checksum, a truncated encoding, and
// (with ErrVersion) a version this build does not know.
func (m *Model) UnmarshalBinary(data []byte) error {
	hdr := len(magic) + 3
	if len(data) < hdr || string(data[:len(magic)]) != magic {
		return errors.New("kmeans: not a Flint model encoding (bad magic)")
	}
	ver := binary.LittleEndian.Uint16(data[len(magic):])
	kl := int(data[len(magic)+2])
	if len(data) < hdr+kl {
		return errors.New("kmeans: model encoding truncated in its header")
	}
	if k := string(data[hdr : hdr+kl]); k != kind {
		return fmt.Errorf("kmeans: the encoding holds a %q model, not %q", k, kind)
	}
	if ver != version {
		return fmt.Errorf("%w %d: this build reads version %d", ErrVersion, ver, version)
	}
	if len(data) < hdr+kl+4 {
		return errors.New("kmeans: model encoding truncated")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return errors.New("kmeans: model encoding is corrupt (checksum mismatch)")
	}
	p := body[hdr+kl:]
	const fixed = 4 + 4 + 4 + 1 + 8 + 8
	if len(p) < fixed {
		return errors.New("kmeans: model encoding truncated")
	}
	k, d := int(binary.LittleEndian.Uint32(p)), int(binary.LittleEndian.Uint32(p[4:]))
	if k < 1 || d < 1 || uint64(len(p)-fixed) != 8*(uint64(k)*uint64(d)+uint64(k)) {
		return fmt.Errorf("kmeans: model encoding of K = %d, Dim = %d has %d payload bytes", k, d, len(p))
	}
	out := Model{K: k, Dim: d,
		Iterations: int(binary.LittleEndian.Uint32(p[8:])),
		Converged:  p[12] == 1,
		Inertia:    math.Float64frombits(binary.LittleEndian.Uint64(p[13:])),
		Silhouette: math.Float64frombits(binary.LittleEndian.Uint64(p[21:])),
		Centres:    make([]float64, k*d),
		Sizes:      make([]int64, k),
	}
	p = p[fixed:]
	for i := range out.Centres {
		out.Centres[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
	}
	p = p[8*len(out.Centres):]
	for i := range out.Sizes {
		out.Sizes[i] = int64(binary.LittleEndian.Uint64(p[8*i:]))
	}
	*m = out
	return nil
}
