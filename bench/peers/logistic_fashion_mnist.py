#!/usr/bin/env python3
"""scikit-learn's multinomial logistic regression on Fashion-MNIST: the peer of
Flint's BenchmarkLogisticFashionMNIST (ml/bench_test.go).

It reads the same gzip'd IDX files the Go code reads ($FLINT_DATA/fashion-mnist,
or ../shared/data/fashion-mnist beside the repository), scales pixels by 1/255,
fits LogisticRegression(solver="lbfgs", C=1.0, max_iter=...) and prints

  - the wall time of fit() (best of --repeat runs),
  - the final objective in Flint's normalisation: the mean log-loss over the
    training rows plus regParam/2 * ||W||^2 with regParam = 1/(C*n). scikit-learn
    minimises C * sum(log-loss) + 1/2 ||W||^2, which is the same objective times
    C*n, so both reach the same minimiser; intercepts are not penalised in either,
  - the iterations L-BFGS-B ran, the test accuracy,
  - which BLAS numpy runs on (threadpoolctl), since that sets the speed.

Run it from the repository root with Debian's scikit-learn:

    apt-get install -y python3-sklearn python3-threadpoolctl
    /usr/bin/python3 bench/peers/logistic_fashion_mnist.py --max-iter 100

ml/testdata/sklearn_fashion_mnist.json, the target loss and reference time
of the Go benchmark, is its output with --json:

    /usr/bin/python3 bench/peers/logistic_fashion_mnist.py --max-iter 100 --repeat 3 --json \
        > ml/testdata/sklearn_fashion_mnist.json
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

from peerdata import data_dir, read_idx


def load(split):
    prefix = {"train": "train", "test": "t10k"}[split]
    d = os.path.join(data_dir(), "fashion-mnist")
    x = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), 0x803)
    y = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"), 0x801)
    return x.reshape(x.shape[0], -1).astype(np.float64) / 255.0, y.astype(np.int64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1, help="fits to run; the best time is reported")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = ap.parse_args()

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    import sklearn

    xtr, ytr = load("train")
    xte, yte = load("test")
    n = xtr.shape[0]
    load_before = os.getloadavg()[0]

    best, clf = None, None
    for _ in range(args.repeat):
        m = LogisticRegression(solver="lbfgs", C=args.C, max_iter=args.max_iter)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter stops it
            m.fit(xtr, ytr)
        dt = time.perf_counter() - t0
        if best is None or dt < best:
            best, clf = dt, m

    reg = 1.0 / (args.C * n)
    p = clf.predict_proba(xtr)
    obj = log_loss(ytr, p, labels=np.arange(10)) + 0.5 * reg * float(np.sum(clf.coef_ ** 2))
    acc = float(np.mean(clf.predict(xte) == yte))

    blas = "unknown (threadpoolctl not installed)"
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('filepath')} threads={i.get('num_threads')}"
                         for i in threadpool_info()) or "none reported"
    except ImportError:
        pass

    out = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "max_iter": args.max_iter,
        "C": args.C,
        "reg_param": reg,
        "fit_seconds": best,
        "objective": obj,
        "iterations": int(clf.n_iter_[0]),
        "test_accuracy": acc,
        "blas": blas,
        "cpus": os.cpu_count(),
        "command": "/usr/bin/python3 bench/peers/logistic_fashion_mnist.py " + " ".join(sys.argv[1:]),
        "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z") + " on " + platform.node()
                    + f", load average {load_before:.2f} before and {os.getloadavg()[0]:.2f} after",
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for k, v in out.items():
        print(f"{k}: {v!r}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
