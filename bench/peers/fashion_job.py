#!/usr/bin/env python3
"""scikit-learn doing the whole Fashion-MNIST job that examples/fashion-logreg.yaml
describes: the peer of bench/fashion-e2e.sh.

Load the training set (the gzip'd IDX files under $FLINT_DATA/fashion-mnist, or
../shared/data/fashion-mnist beside the repository), min-max scale every pixel,
hold out 15 % at random, fit a multinomial LogisticRegression(solver="lbfgs")
for at most --max-iter iterations with the job's penalty, and score the held-out
rows (accuracy, macro F1, log-loss). It prints one line per phase with its wall
time, the total, and the peak resident memory of the process (ru_maxrss).

The penalty: Flint's reg_param λ penalises the mean log-loss by λ/2·‖W‖²;
scikit-learn minimises C·Σ log-loss + ½‖W‖², the same objective when
C = 1/(λ·n) for the n training rows.

    /usr/bin/python3 bench/peers/fashion_job.py            # python3 on PATH may lack sklearn
"""
import argparse
import os
import resource
import time
import warnings

import numpy as np

from peerdata import data_dir, read_idx


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-iter", type=int, default=60)
    ap.add_argument("--reg-param", type=float, default=0.0001)
    ap.add_argument("--test-fraction", type=float, default=0.15)
    args = ap.parse_args()

    phases = []
    t0 = time.perf_counter()
    last = t0

    def phase(name):
        nonlocal last
        now = time.perf_counter()
        phases.append((name, now - last))
        last = now

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler
    phase("import scikit-learn")

    d = os.path.join(data_dir(), "fashion-mnist")
    x = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), 0x803)
    y = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"), 0x801).astype(np.int64)
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    phase("load")

    x = MinMaxScaler().fit_transform(x)
    phase("min-max scale")

    xtr, xte, ytr, yte = train_test_split(x, y, test_size=args.test_fraction, random_state=1)
    del x
    phase("split")

    m = LogisticRegression(solver="lbfgs", C=1.0 / (args.reg_param * xtr.shape[0]), max_iter=args.max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter stops it
        m.fit(xtr, ytr)
    phase(f"fit ({int(m.n_iter_[0])} iterations)")

    p = m.predict_proba(xte)
    pred = m.classes_[np.argmax(p, axis=1)]
    acc = accuracy_score(yte, pred)
    f1 = f1_score(yte, pred, average="macro")
    ll = log_loss(yte, p, labels=m.classes_)
    phase("score")

    for name, dt in phases:
        print(f"{name:28s} {dt:8.3f} s")
    print(f"{'total (the job, no import)':28s} {sum(dt for _, dt in phases[1:]):8.3f} s")
    print(f"held-out rows {len(yte)}: accuracy {acc:.6f}  f1 {f1:.6f}  logloss {ll:.6f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
