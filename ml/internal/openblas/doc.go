// Package openblas is Flint's opt-in route to OpenBLAS for the dense
// products of its training passes: the softmax gradient's two matrix
// products, k-means distances and the ALS normal equations (Gramian by
// DSYRK, Cholesky solve by LAPACK's DPOTRF and DPOTRS).
//
// # Building
//
// The default build has no OpenBLAS: Enabled is false, every function here
// panics, and the callers' constant branches on Enabled leave the pure-Go
// and assembly kernels of ml/internal/tile, whose results are the same bits
// on every CPU. Built with the openblas tag (and cgo), Enabled is true and
// the callers go through OpenBLAS instead:
//
//	apt-get install -y libopenblas-dev
//	go test -tags openblas ./ml/...   # cgo on; the package links -lopenblas itself
//
// The BLAS calls go through gonum.org/v1/netlib's cgo binding of CBLAS;
// the two LAPACK routines are called as OpenBLAS exports them (dpotrf_,
// dpotrs_), since gonum's lapack/netlib needs LAPACKE, which Debian's
// libopenblas does not carry. The openblas tag with cgo off does not
// compile, rather than quietly falling back.
//
// # Threads
//
// Flint runs one worker goroutine per core, and each worker calls these
// functions on its own small blocks; OpenBLAS's own threads would only
// fight the workers for the cores. The package therefore sets OpenBLAS to
// one thread (openblas_set_num_threads(1)) when it is initialised,
// whatever OPENBLAS_NUM_THREADS says: every call runs on its caller's
// thread.
//
// # Results
//
// OpenBLAS picks its summation order by CPU and block size, so the tagged
// build's results differ from the default build's in the last bits
// (relative differences near 1e-13 for the products and 1e-10 for the
// solved factors in this package's callers' tests), and are not
// reproducible across CPUs the way the default build's are.
//
// All matrices are row-major, as gonum's blas64 takes them.
package openblas
