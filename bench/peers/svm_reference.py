#!/usr/bin/env python3
"""Reference linear SVMs from scikit-learn for Flint's ml tests.

Writes ml/testdata/sklearn_svm.json: the coefficients, intercepts and
predictions that package ml's LinearSVC must reproduce, each with the
scikit-learn call that produced it.

The objectives. scikit-learn's LinearSVC(loss='hinge', C=c,
intercept_scaling=s) is liblinear's dual solver for

    1/2 ||w||^2 + 1/2 v^2 + c * sum_i max(0, 1 - t_i (x_i.w + s v))

with t_i = 2 y_i - 1 and intercept b = s v, so the intercept is penalised
by 1/2 (b/s)^2. Divided by c*n that is

    mean_i max(0, 1 - t_i (x_i.w + b)) + 1/(2cn) ||w||^2 + 1/(2cn) (b/s)^2

and Flint's LinearSVC{RegParam: 1/(c*n)} minimises the same without the
last term (MLlib's unpenalised intercept). With s = 100 that term is
1e-4 of what the penalty on b would be, below 1e-9 of the objective here:
negligible.

The data: breast_cancer with its labels (0 malignant, 1 benign), and
digits with label 1 for the digits 5 to 9. The features are standardised
here, (x - mean) / std with numpy's population std (ddof=0; a constant
column is left at 0), and the test standardises them the same way and
fits with Standardization false, so the two objectives are the same
function of the same numbers.

"objective" below is that objective without the intercept term, at
scikit-learn's solution: the test evaluates it again with its own code and
compares Flint's optimum with it. Every fit runs to a tight tolerance, so
that the reference is the optimum itself, not wherever a solver stopped;
"objective_loose" is the same fit at 100x the tolerance, to show how far
from converged liblinear still is. The data are the files in
$FLINT_DATA/sklearn (or ../shared/data/sklearn beside the repository), the
same ones internal/datasets reads.

    /usr/bin/python3 bench/peers/svm_reference.py > ml/testdata/sklearn_svm.json
"""
import gzip
import json
import os
import sys
import time
import warnings

import numpy as np
import sklearn
from sklearn.svm import LinearSVC

# liblinear's dual coordinate descent slows down as intercept_scaling
# grows (the constant feature dominates every row's norm): at 1e3 it did
# not converge on breast_cancer (5e6 iterations at tol 1e-4 to 1e-10, 5e7
# at 1e-12); at 100 it does (1.5e6 iterations at tol 1e-10, 1 s; digits
# 1.5e7 at tol 1e-8, 92 s), and the intercept's penalty ½λ(b/100)² is
# below 1e-9 of the objective.
INTERCEPT_SCALING = 100.0
MAX_ITER = 50_000_000


def data_dir():
    d = os.environ.get("FLINT_DATA")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))


def read_csv(name, header):
    """Rows are features then the class; a header is rows,features,class names..."""
    path = os.path.join(data_dir(), "sklearn", name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as f:
        lines = f.read().strip().split("\n")
    if header:
        lines = lines[1:]
    a = np.array([[float(v) for v in l.split(",")] for l in lines])
    return a[:, :-1], a[:, -1].astype(int)


def standardise(x):
    std = x.std(axis=0)
    std[std == 0] = 1
    return (x - x.mean(axis=0)) / std


# (name, file, has header, binary labels from the class, C, tol)
TASKS = [
    ("breast_cancer", "breast_cancer.csv", True, lambda c: c, 1.0, 1e-10),
    ("digits_0-4_vs_5-9", "digits.csv.gz", False, lambda c: (c >= 5).astype(int), 0.1, 1e-8),
]


def objective(x, y, coef, intercept, reg):
    t = 2 * y - 1
    hinge = np.maximum(0, 1 - t * (x @ coef + intercept))
    return float(hinge.mean() + 0.5 * reg * coef @ coef)


def fit(x, y, c, tol):
    m = LinearSVC(loss="hinge", C=c, intercept_scaling=INTERCEPT_SCALING, tol=tol,
                  max_iter=MAX_ITER, dual=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ConvergenceWarning is a failure
        m.fit(x, y)
    return m


def main():
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__,
           "intercept_scaling": INTERCEPT_SCALING, "svm": []}
    for name, path, header, binary, c, tol in TASKS:
        x, cls = read_csv(path, header)
        y = binary(cls)
        x = standardise(x)
        n = x.shape[0]
        reg = 1.0 / (c * n)
        start = time.time()
        m = fit(x, y, c, tol)
        secs = time.time() - start
        loose = fit(x, y, c, 100 * tol)
        coef, icpt = m.coef_.ravel(), float(m.intercept_[0])
        call = (f"LinearSVC(loss='hinge', C={c}, intercept_scaling={INTERCEPT_SCALING:g}, "
                f"tol={tol:g}, max_iter={MAX_ITER}, dual=True)")
        out["svm"].append({
            "data": name, "file": path, "call": call, "C": c, "rows": n, "features": x.shape[1],
            "reg_param": reg, "coef": coef.tolist(), "intercept": icpt,
            "objective": objective(x, y, coef, icpt, reg),
            "objective_loose": objective(x, y, loose.coef_.ravel(), float(loose.intercept_[0]), reg),
            "n_iter": int(m.n_iter_), "seconds": round(secs, 2),
            "predictions": m.predict(x).astype(int).tolist(),
            "train_accuracy": float(m.score(x, y)),
        })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
