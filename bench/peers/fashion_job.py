#!/usr/bin/env python3
"""The Fashion-MNIST job end to end in scikit-learn: the peer of
`flint train -f examples/fashion-logreg.yaml` (load, min-max scale, 85/15
split, multinomial lbfgs with the same penalty and iterations, score).

It reads the CSV that `go run ./examples/datagen fashion-train` writes (the
records `flint ingest` appends) and prints each phase's wall time. Measure
its peak memory beside Flint's with /usr/bin/time -v:

    go run ./examples/datagen fashion-train > /tmp/fashion.csv
    /usr/bin/time -v /usr/bin/python3 bench/peers/fashion_job.py /tmp/fashion.csv
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--reg-param", type=float, default=1e-4, help="Flint's reg_param (mean loss + reg/2 ||W||^2)")
    ap.add_argument("--max-iter", type=int, default=60)
    ap.add_argument("--test-fraction", type=float, default=0.15)
    args = ap.parse_args()

    t0 = time.perf_counter()
    with open(args.csv) as f:
        n = sum(1 for _ in f)
    with open(args.csv) as f:
        first = f.readline()
        dim = len(first.split(",", 1)[1].split())
        X, y = np.empty((n, dim)), np.empty(n)
        f.seek(0)
        for i, line in enumerate(f):
            lab, pix = line.split(",", 1)
            y[i] = float(lab)
            X[i] = np.array(pix.split(), dtype=np.float64)
    t1 = time.perf_counter()
    MinMaxScaler(copy=False).fit_transform(X)
    t2 = time.perf_counter()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=args.test_fraction, random_state=0)
    del X
    t3 = time.perf_counter()
    m = LogisticRegression(solver="lbfgs", C=1.0 / (args.reg_param * len(ytr)), max_iter=args.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter stops it
        m.fit(Xtr, ytr)
    t4 = time.perf_counter()
    acc = m.score(Xte, yte)
    t5 = time.perf_counter()
    print(f"load {t1-t0:.2f}s  scale {t2-t1:.2f}s  split {t3-t2:.2f}s  fit {t4-t3:.2f}s  score {t5-t4:.2f}s  total {t5-t0:.2f}s")
    print(f"rows {n} x {dim} ({n*dim*8/1e6:.0f} MB as float64); test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
