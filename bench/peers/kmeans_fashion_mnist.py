#!/usr/bin/env python3
"""scikit-learn's Lloyd k-means on Fashion-MNIST: the peer of Flint's
BenchmarkLloydFashionMNIST and TestFashionMNISTMatchesScikitLearn
(ml/kmeans/bench_test.go, ml/kmeans/kmeans_test.go).

It reads the same gzip'd IDX files the Go code reads ($FLINT_DATA/fashion-mnist,
or ../shared/data/fashion-mnist beside the repository) and scales pixels by
1/255, exactly as internal/datasets does, so both sides hold bit-identical
float64 rows. The initial centres are the training rows at the fixed indices
0, 6000, 12000, ..., 54000 (k = 10), which the Go test rebuilds without files.

Two modes:

  --mode reference   KMeans(n_clusters=10, init=<those rows>, n_init=1,
                     algorithm="lloyd", max_iter=--max-iter, tol=0).fit(X)
                     and print the inertia and n_iter_. With tol=0 scikit-learn
                     stops only when no label changes (or at max_iter); the Go
                     test runs the same iterations with Tol < 0. --write stores
                     the result in ml/kmeans/testdata/sklearn_fashion_mnist.json.

  --mode bench       time one Lloyd iteration: fit() with max_iter=--lo and
                     with max_iter=--hi (tol=0, so neither stops early), best
                     of --repeat runs each, and report
                     (t_hi - t_lo) / (n_iter_hi - n_iter_lo), which excludes
                     the fixed costs of fit() (input checks, the copy and
                     centring of X, norms, the final label pass). fit(hi)/hi
                     is printed too, and cpu_ms_per_iter, the same difference
                     of CPU time (all threads): on a machine other processes
                     share, wall time also counts waiting for a core.

scikit-learn runs Lloyd's iterations on OpenMP threads (one per core) with
BLAS limited to one thread inside each; the BLAS numpy uses is printed
(threadpoolctl), since it sets the speed.

Run it from the repository root with Debian's scikit-learn:

    /usr/bin/python3 bench/peers/kmeans_fashion_mnist.py --mode reference --max-iter 300 --write
    /usr/bin/python3 bench/peers/kmeans_fashion_mnist.py --mode bench --lo 5 --hi 25 --repeat 5
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

from peerdata import data_dir, read_idx

INIT_ROWS = [i * 6000 for i in range(10)]


def repo_root():
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def load_train():
    d = os.path.join(data_dir(), "fashion-mnist")
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), 0x803)
    return np.ascontiguousarray(x.reshape(x.shape[0], -1).astype(np.float64) / 255.0)


def fit(x, max_iter):
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=len(INIT_ROWS), init=x[INIT_ROWS].copy(), n_init=1,
                algorithm="lloyd", max_iter=max_iter, tol=0.0)
    c0, t0 = cpu_seconds(), time.perf_counter()
    km.fit(x)
    return time.perf_counter() - t0, cpu_seconds() - c0, km


def cpu_seconds():
    """CPU time (user + system) of this process and its threads so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "filepath")} for i in threadpool_info()]
    except Exception as e:  # threadpoolctl missing: say so rather than fail
        return [{"error": str(e)}]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=["reference", "bench"], default="bench")
    ap.add_argument("--max-iter", type=int, default=300, help="reference mode: max_iter")
    ap.add_argument("--write", action="store_true", help="reference mode: write ml/kmeans/testdata/sklearn_fashion_mnist.json")
    ap.add_argument("--lo", type=int, default=5, help="bench mode: the short fit's max_iter")
    ap.add_argument("--hi", type=int, default=25, help="bench mode: the long fit's max_iter")
    ap.add_argument("--repeat", type=int, default=3, help="bench mode: fits per length; the best time counts")
    args = ap.parse_args()

    import sklearn

    x = load_train()
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "rows": x.shape[0], "cols": x.shape[1],
           "k": len(INIT_ROWS), "init_rows": INIT_ROWS, "cpus": os.cpu_count(), "blas": blas_info()}

    if args.mode == "reference":
        secs, _, km = fit(x, args.max_iter)
        out.update({"max_iter": args.max_iter, "tol": 0.0, "n_iter": int(km.n_iter_),
                    "inertia": float(km.inertia_), "seconds": secs,
                    "sizes": np.bincount(km.labels_, minlength=len(INIT_ROWS)).tolist(),
                    "produced_by": "/usr/bin/python3 bench/peers/kmeans_fashion_mnist.py --mode reference "
                                   f"--max-iter {args.max_iter} --write"})
        print(json.dumps(out, indent=2))
        if args.write:
            path = os.path.join(repo_root(), "ml", "kmeans", "testdata", "sklearn_fashion_mnist.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(out, f, indent=2)
                f.write("\n")
            print("wrote", path, file=sys.stderr)
        return

    fit(x, 2)  # warm up: page in X, start the OpenMP threads
    best, best_cpu = {}, {}
    for n in (args.lo, args.hi):
        times, cpus = [], []
        for _ in range(args.repeat):
            secs, cpu, km = fit(x, n)
            times.append(secs)
            cpus.append(cpu)
        if km.n_iter_ != n:
            sys.exit(f"fit(max_iter={n}) stopped after {km.n_iter_} iterations; lower --hi")
        best[n], best_cpu[n] = min(times), min(cpus)
    per_iter = (best[args.hi] - best[args.lo]) / (args.hi - args.lo)
    cpu_per_iter = (best_cpu[args.hi] - best_cpu[args.lo]) / (args.hi - args.lo)
    out.update({"lo": args.lo, "hi": args.hi, "fit_lo_s": best[args.lo], "fit_hi_s": best[args.hi],
                "ms_per_iter": per_iter * 1e3, "cpu_ms_per_iter": cpu_per_iter * 1e3,
                "fit_hi_ms_per_iter": best[args.hi] / args.hi * 1e3})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
