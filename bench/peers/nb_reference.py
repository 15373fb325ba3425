#!/usr/bin/env python3
"""Reference naive Bayes fits from scikit-learn for package ml/bayes.

Writes ml/bayes/testdata/sklearn_nb.json (or the path given, "-" for
stdout): for each fit, the scikit-learn call, the data and how it was
transformed, the fitted parameters and the predictions on every training
row. TestMatchesScikitLearn fits the same data with bayes.Fit and compares.

  MultinomialNB(alpha=1.0) on digits, the pixel counts 0-16 as they are
      = bayes.Config{ModelType: "multinomial", Smoothing: 1}
  BernoulliNB(alpha=1.0, binarize=None) on digits binarised as x > 8
      (1 where the pixel count exceeds 8, else 0; the rule is recorded in
      "transform")
      = bayes.Config{ModelType: "bernoulli", Smoothing: 1}
  GaussianNB() (var_smoothing=1e-9) on iris and on wine
      = bayes.Config{ModelType: "gaussian"}

Parameters are written as scikit-learn holds them, flattened row-major
(classes x features): class_count_, class_log_prior_ (for GaussianNB the
log of class_prior_), feature_log_prob_ (multinomial, Bernoulli), theta_,
var_ and epsilon_ (Gaussian); then predict() and predict_proba() of every
row. Floats are written with Python's repr, which round-trips exactly.

The data are the files in $FLINT_DATA/sklearn (or ../shared/data/sklearn
beside the repository), the same ones internal/datasets reads.

    /usr/bin/python3 bench/peers/nb_reference.py
"""
import gzip
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.naive_bayes import BernoulliNB, GaussianNB, MultinomialNB


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


def digits():
    """No header: 64 pixel counts 0-16, then the digit."""
    with gzip.open(os.path.join(data_dir(), "sklearn", "digits.csv.gz"), "rt") as f:
        a = np.loadtxt(f, delimiter=",")
    return a[:, :-1], a[:, -1].astype(int)


def flat(a):
    return np.asarray(a, dtype=float).ravel().tolist()


def fit(name, data, transform, call, model, x, y):
    model.fit(x, y)
    gaussian = isinstance(model, GaussianNB)
    out = {
        "name": name, "data": data, "transform": transform, "call": call,
        "model_type": "gaussian" if gaussian else name.split("/")[0],
        "rows": int(x.shape[0]), "features": int(x.shape[1]), "classes": int(len(model.classes_)),
        "class_count": flat(model.class_count_),
    }
    if gaussian:
        out["var_smoothing"] = model.var_smoothing
        out["class_log_prior"] = flat(np.log(model.class_prior_))
        out["theta"] = flat(model.theta_)
        out["var"] = flat(model.var_)
        out["epsilon"] = float(model.epsilon_)
    else:
        out["smoothing"] = float(model.alpha)
        out["class_log_prior"] = flat(model.class_log_prior_)
        out["feature_log_prob"] = flat(model.feature_log_prob_)
    out["predict"] = model.predict(x).astype(int).tolist()
    out["proba"] = flat(model.predict_proba(x))
    out["train_accuracy"] = float(model.score(x, y))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "ml", "bayes", "testdata", "sklearn_nb.json")
    out = {"sklearn": sklearn.__version__, "numpy": np.__version__, "fits": []}

    x, y = digits()
    out["fits"].append(fit("multinomial/digits", "digits", "none", "MultinomialNB(alpha=1.0)",
                           MultinomialNB(alpha=1.0), x, y))
    xb = (x > 8).astype(float)
    out["fits"].append(fit("bernoulli/digits", "digits", "x > 8", "BernoulliNB(alpha=1.0, binarize=None)",
                           BernoulliNB(alpha=1.0, binarize=None), xb, y))
    for data, file in [("iris", "iris.csv"), ("wine", "wine_data.csv")]:
        x, y = read_csv_with_header(file)
        out["fits"].append(fit("gaussian/" + data, data, "none", "GaussianNB()", GaussianNB(), x, y))

    text = json.dumps(out, separators=(",", ":")) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
