#!/usr/bin/env bash
# The Fashion-MNIST logistic job with `folds: 5` on 2 worker processes
# (flint train --listen as their driver), ROUNDS times; with OLD set to
# another flint binary, that binary's run alternates with this one's.
# Prints the job's time, its cross-validation and held-out accuracy, and
# each worker's peak RSS (VmHWM, read before it is stopped).
#   make build && bench/remote-fashion-folds.sh
#   OLD=/tmp/flint-old bench/remote-fashion-folds.sh   # against another build
set -euo pipefail
FLINT=${FLINT:-bin/flint}
OLD=${OLD:-}
ROUNDS=${ROUNDS:-2}
ADDR=${ADDR:-127.0.0.1:7179}
D=$(mktemp -d)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop; rm -rf "$D"' EXIT
export FLINT_LOG="dir:$D/log"
go run ./examples/datagen fashion-train | "$FLINT" ingest --topic fashion --schema examples/fashion-logreg.yaml
sed 's/^  test_fraction: 0.15$/  test_fraction: 0.15\n  folds: 5/' examples/fashion-logreg.yaml > "$D/fashion-folds.yaml"
grep -q 'folds: 5' "$D/fashion-folds.yaml"
run() { # binary label
  PIDS=()
  GOMAXPROCS=1 "$1" worker --driver "$ADDR" 2>/dev/null & PIDS+=($!)
  GOMAXPROCS=1 "$1" worker --driver "$ADDR" 2>/dev/null & PIDS+=($!)
  local start=$SECONDS
  "$1" --store "dir:$D/$2" train -f "$D/fashion-folds.yaml" --listen "$ADDR" --workers 2 2>/dev/null | grep -E 'published|accuracy' | tr '\n' ' '
  echo
  echo "$2: $((SECONDS - start)) s; worker peak RSS (kB):" $(for p in "${PIDS[@]}"; do grep VmHWM "/proc/$p/status" | awk '{print $2}'; done)
  stop
}
for _ in $(seq "$ROUNDS"); do
  run "$FLINT" this
  if [ -n "$OLD" ]; then run "$OLD" old; fi
done
