#!/usr/bin/env python3
"""Reference solutions from scikit-learn for Flint's ml tests.

Writes ml/testdata/sklearn_glm.json: coefficients that package ml's
fits must reproduce, each with the scikit-learn call that produced it. The
objectives are the same ones package ml minimises:

  Lasso / ElasticNet(alpha=a, l1_ratio=r):
      1/(2n) ||y - Xw - b||^2 + a*r*||w||_1 + a*(1-r)/2 ||w||^2
      = LinearRegression{RegParam: a, ElasticNetParam: r}
  LogisticRegression(C=c), binary or multinomial:
      C * sum(log-loss) + 1/2 ||W||^2, which is n*c times
      mean(log-loss) + 1/(2cn) ||W||^2
      = LogisticRegression{RegParam: 1/(c*n)}

Every fit is run to a tight tolerance so that the reference is the optimum
itself, not wherever a solver stopped. The data are the files in
$FLINT_DATA/sklearn (or ../shared/data/sklearn beside the repository), the
same ones internal/datasets reads.

    /usr/bin/python3 bench/peers/glm_reference.py > ml/testdata/sklearn_glm.json
"""
import gzip
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression


def data_dir():
    d = os.environ.get("FLINT_DATA")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data"))


def read_csv_with_header(name):
    """The header is rows,features,class names...; rows are features then class."""
    with open(os.path.join(data_dir(), "sklearn", name)) as f:
        lines = f.read().strip().split("\n")
    a = np.array([[float(v) for v in l.split(",")] for l in lines[1:]])
    return a[:, :-1], a[:, -1].astype(int)


def diabetes():
    d = os.path.join(data_dir(), "sklearn")
    with gzip.open(os.path.join(d, "diabetes_data_raw.csv.gz"), "rt") as f:
        x = np.loadtxt(f)
    with gzip.open(os.path.join(d, "diabetes_target.csv.gz"), "rt") as f:
        y = np.loadtxt(f)
    return x, y


def main():
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "lasso": [], "logistic": []}

    x, y = diabetes()
    for alpha, ratio in [(1.0, 1.0), (0.3, 0.5), (5.0, 1.0)]:
        if ratio == 1.0:
            m = Lasso(alpha=alpha, tol=1e-14, max_iter=10_000_000)
            call = f"Lasso(alpha={alpha}, tol=1e-14, max_iter=10_000_000)"
        else:
            m = ElasticNet(alpha=alpha, l1_ratio=ratio, tol=1e-14, max_iter=10_000_000)
            call = f"ElasticNet(alpha={alpha}, l1_ratio={ratio}, tol=1e-14, max_iter=10_000_000)"
        m.fit(x, y)
        out["lasso"].append({"data": "diabetes", "call": call, "alpha": alpha, "l1_ratio": ratio,
                             "coef": m.coef_.tolist(), "intercept": float(m.intercept_),
                             "n_iter": int(m.n_iter_)})

    for name, c in [("breast_cancer", 1.0), ("iris", 1.0), ("wine", 0.5)]:
        x, y = read_csv_with_header("wine_data.csv" if name == "wine" else name + ".csv")
        n = x.shape[0]
        classes = int(y.max()) + 1
        solver = "newton-cg"
        m = LogisticRegression(C=c, solver=solver, tol=1e-12, max_iter=100_000)
        with warnings.catch_warnings():
            # Near the optimum scipy's line search may warn that rounding
            # stops it; the gradient norm below is what shows convergence.
            warnings.simplefilter("ignore")
            m.fit(x, y)
        p = m.predict_proba(x)
        reg = 1.0 / (c * n)
        obj = float(-np.mean(np.log(p[np.arange(n), y])) + 0.5 * reg * np.sum(m.coef_ ** 2))
        # Gradient of the mean objective at the solution, intercepts included.
        if classes == 2:
            r = (p[:, 1] - y)[:, None]
        else:
            r = p - np.eye(classes)[y]
        gw = r.T @ x / n + reg * m.coef_
        gb = r.sum(axis=0) / n
        grad_norm = float(np.sqrt(np.sum(gw ** 2) + np.sum(gb ** 2)))
        out["logistic"].append({
            "data": name, "call": f"LogisticRegression(C={c}, solver='{solver}', tol=1e-12, max_iter=100_000)",
            "C": c, "rows": n, "classes": classes, "reg_param": reg,
            "coef": m.coef_.ravel().tolist(), "intercept": m.intercept_.tolist(),
            "objective": obj, "grad_norm": grad_norm, "train_accuracy": float(m.score(x, y)),
        })
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
