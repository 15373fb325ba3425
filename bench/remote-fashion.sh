#!/usr/bin/env bash
# The Fashion-MNIST logistic job in process and on 2 worker processes
# (flint train --listen as their driver), on the same machine, ROUNDS times.
#   make build && bench/remote-fashion.sh
set -euo pipefail
FLINT=${FLINT:-bin/flint}
ROUNDS=${ROUNDS:-2}
ADDR=${ADDR:-127.0.0.1:7178}
D=$(mktemp -d)
trap 'pkill -f "worker --driver $ADDR" 2>/dev/null || true; rm -rf "$D"' EXIT
export FLINT_LOG="dir:$D/log"
go run ./examples/datagen fashion-train | "$FLINT" ingest --topic fashion --schema examples/fashion-logreg.yaml
for _ in $(seq "$ROUNDS"); do
  echo "in process:"
  "$FLINT" --store "dir:$D/local" train -f examples/fashion-logreg.yaml 2>/dev/null | grep -E 'published|accuracy'
  echo "on 2 worker processes (1 core each):"
  GOMAXPROCS=1 "$FLINT" worker --driver "$ADDR" 2>/dev/null &
  GOMAXPROCS=1 "$FLINT" worker --driver "$ADDR" 2>/dev/null &
  "$FLINT" --store "dir:$D/remote" train -f examples/fashion-logreg.yaml --listen "$ADDR" --workers 2 2>/dev/null | grep -E 'published|accuracy'
  pkill -f "worker --driver $ADDR" || true
  wait 2>/dev/null || true
done
