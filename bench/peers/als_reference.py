#!/usr/bin/env python3
"""A plain numpy ALS, the reference of Flint's TestMatchesNumpyReference
(ml/als/reference_test.go).

scikit-learn has no alternating least squares, so this script writes the
algorithm out with dense numpy linear algebra, straight from the papers Flint
follows, and records the factors it reaches:

  - explicit feedback (ALS-WR, Zhou et al. 2008, Spark MLlib's scaling):
    item i solves (sum_u x_u x_u^T + lam * n_i * I) y_i = sum_u r_ui x_u over
    its n_i ratings, then every user likewise against the new item factors;
  - implicit feedback (Hu, Koren and Volinsky 2008, as MLlib): confidence
    c = 1 + alpha*|r|, preference p = [r > 0], so item i solves
    (X^T X + sum_u (c-1) x_u x_u^T + lam * n+_i * I) y_i = sum_u c p x_u with
    n+_i its positive ratings and X^T X over every user.

The ratings and the starting user factors are closed-form functions of the
ids (no random generator to reproduce), written in the JSON next to the
results:

  users 0..29, items 0..19; (u, i) is rated when (7u + 3i) % 4 == 0 or i == u % 20;
  explicit rating 1 + ((5u + 11i) % 9) / 2;  implicit value ((u + 2i) % 5) - 1
  starting user factor x_u[c] = cos(u + 0.7 c) / 2 + 0.1 c,  rank 3

Run it from the repository root:

    /usr/bin/python3 bench/peers/als_reference.py --write

which writes ml/als/testdata/numpy_als.json.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

USERS, ITEMS, RANK, ITERS, LAMBDA, ALPHA = 30, 20, 3, 5, 0.1, 2.0


def rated(u, i):
    return (7 * u + 3 * i) % 4 == 0 or i == u % ITEMS


def ratings(implicit):
    out = []
    for u in range(USERS):
        for i in range(ITEMS):
            if rated(u, i):
                v = ((u + 2 * i) % 5) - 1 if implicit else 1 + ((5 * u + 11 * i) % 9) / 2
                out.append((u, i, float(v)))
    return out


def start_users():
    return np.array([[math.cos(u + 0.7 * c) / 2 + 0.1 * c for c in range(RANK)] for u in range(USERS)])


def solve_side(n_self, pairs, other, implicit):
    """pairs[s] lists (o, r) for row s; returns the new factors of this side."""
    gram = other.T @ other
    out = np.zeros((n_self, RANK))
    for s in range(n_self):
        a = np.zeros((RANK, RANK))
        b = np.zeros(RANK)
        n = 0
        for o, r in pairs[s]:
            y = other[o]
            if implicit:
                c1 = ALPHA * abs(r)
                a += c1 * np.outer(y, y)
                if r > 0:
                    b += (1 + c1) * y
                    n += 1
            else:
                a += np.outer(y, y)
                b += r * y
                n += 1
        if implicit:
            a += gram
        a += LAMBDA * n * np.eye(RANK)
        out[s] = np.linalg.solve(a, b)
    return out


def fit(implicit):
    rs = ratings(implicit)
    by_user = [[] for _ in range(USERS)]
    by_item = [[] for _ in range(ITEMS)]
    for u, i, r in rs:
        by_user[u].append((i, r))
        by_item[i].append((u, r))
    x = start_users()
    y = np.zeros((ITEMS, RANK))
    for _ in range(ITERS):
        y = solve_side(ITEMS, by_item, x, implicit)
        x = solve_side(USERS, by_user, y, implicit)
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write ml/als/testdata/numpy_als.json")
    args = ap.parse_args()
    out = {"users": USERS, "items": ITEMS, "rank": RANK, "iterations": ITERS, "lambda": LAMBDA, "alpha": ALPHA,
           "numpy": np.__version__,
           "produced_by": "/usr/bin/python3 bench/peers/als_reference.py --write"}
    for name, implicit in (("explicit", False), ("implicit", True)):
        x, y = fit(implicit)
        out[name] = {"user_factors": x.ravel().tolist(), "item_factors": y.ravel().tolist()}
    text = json.dumps(out, indent=1)
    if args.write:
        root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        path = os.path.join(root, "ml", "als", "testdata", "numpy_als.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")
        print("wrote", path, file=sys.stderr)
    else:
        print(text)


if __name__ == "__main__":
    main()
