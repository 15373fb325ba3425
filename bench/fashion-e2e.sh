#!/usr/bin/env bash
# The Fashion-MNIST job end to end, Flint beside scikit-learn, in one run:
#   Flint:        datagen fashion-train | flint ingest   (the records into the embedded log)
#                 flint train -f examples/fashion-logreg.yaml   (fit min-max, cache, 85/15 split, 60 L-BFGS
#                 iterations of multinomial logistic regression, score, publish)
#   scikit-learn: bench/peers/fashion_job.py (load the IDX files, min-max scale, 85/15 split, lbfgs with the
#                 same penalty and iterations, score)
# It prints each phase's wall time, both totals, both peak RSS figures and the ratios.
#   make build && bench/fashion-e2e.sh           (ROUNDS=3 for more rounds; PYTHON=/usr/bin/python3)
#   PRECISION=float32 bench/fashion-e2e.sh       (the job with engine.precision: float32: its rows cached in float32)
# ENCODE=f32 (or f64, or "f32 f64") also runs Flint's side with the records ingested as binary records
# (flint ingest --encode), after the CSV run in the same round, and prints the ratios to it; PEER=0 skips
# scikit-learn.
set -euo pipefail
FLINT=${FLINT:-bin/flint}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${ROUNDS:-1}
PRECISION=${PRECISION:-float64}
ENCODE=${ENCODE:-}
PEER=${PEER:-1}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
SPEC=examples/fashion-logreg.yaml
if [ "$PRECISION" != float64 ]; then
  SPEC="$D/fashion-logreg-$PRECISION.yaml"
  { cat examples/fashion-logreg.yaml; echo "engine: {precision: $PRECISION}"; } > "$SPEC"
fi
go build -o "$D/datagen" ./examples/datagen
"$D/datagen" fashion-train > "$D/fashion.csv"   # the source file, as a user has it

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
cpu() { awk '{ printf "CPU %.2f s", $2 + $3 }' "$1"; } # user + system seconds from /usr/bin/time's "%M %U %S"
# flint_run ENCODING: ingest (as text for "csv", else --encode ENCODING) and train; sets flint_total and
# flint_rss (the train's peak RSS in KiB) and prints the phases.
flint_run() {
  local enc=$1 flags=()
  [ "$enc" = csv ] || flags=(--encode "$enc")
  rm -rf "$D/log" "$D/models"
  export FLINT_LOG="dir:$D/log"
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$D/ingest.rss" "$FLINT" ingest --topic fashion --schema examples/fashion-logreg.yaml --progress 1h "${flags[@]}" < "$D/fashion.csv" > /dev/null
  t1=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$D/train.rss" "$FLINT" --store "dir:$D/models" train -f "$SPEC" > "$D/train.out" 2>&1
  t2=$(date +%s.%N)
  flint_total=$(secs "$t0" "$t2")
  flint_rss=$(cut -d' ' -f1 "$D/train.rss")
  echo "round $round — Flint, records ingested as $enc ($(du -sm "$D/log" | cut -f1) MiB in the log), engine.precision: $PRECISION"
  echo "  ingest 60 000 records            $(secs "$t0" "$t1") s   $(cpu "$D/ingest.rss")   peak RSS $(( $(cut -d' ' -f1 "$D/ingest.rss") / 1024 )) MiB"
  # Phase times from the train log: each phase line carries the time since the start.
  awk '/msg=phase/ { match($0, /phase="[^"]*"/); p = substr($0, RSTART + 7, RLENGTH - 8);
                      match($0, /elapsed=[0-9.]+(ms|s|m[0-9.]+s)/); e = substr($0, RSTART + 8, RLENGTH - 8);
                      if (e ~ /ms$/) e = e / 1000; else if (e ~ /m/) { split(e, a, "m"); e = a[1] * 60 + a[2] } else e = e + 0;
                      if (name != "") printf "  %-32s %.2f s\n", name, e - last; name = p; last = e }
       /^published/ { print "  " $0 }' "$D/train.out"
  echo "  train                            $(secs "$t1" "$t2") s   $(cpu "$D/train.rss")   peak RSS $(( flint_rss / 1024 )) MiB"
  grep -E '^\s+accuracy' "$D/train.out" | sed 's/^ */  held-out /'
  echo "  total                            $flint_total s"
}

for round in $(seq "$ROUNDS"); do
  flint_run csv
  csv_total=$flint_total csv_rss=$flint_rss
  for enc in $ENCODE; do
    flint_run "$enc"
    awk -v f="$flint_total" -v c="$csv_total" -v fr="$flint_rss" -v cr="$csv_rss" -v e="$enc" 'BEGIN {
      printf "round %d: Flint %s / Flint CSV: time %.2f, train peak RSS %.2f\n", '"$round"', e, f / c, fr / cr }'
    flint_total=$csv_total flint_rss=$csv_rss
  done
  [ "$PEER" = 0 ] && continue
  echo "round $round — scikit-learn ($PYTHON bench/peers/fashion_job.py)"
  "$PYTHON" bench/peers/fashion_job.py | sed 's/^/  /' | tee "$D/sk.out"
  sk_total=$(awk '/^  total/ { print $(NF-1) }' "$D/sk.out")
  sk_rss=$(awk '/peak RSS/ { print $(NF-1) }' "$D/sk.out")
  awk -v f="$flint_total" -v s="$sk_total" -v fr="$flint_rss" -v sr="$sk_rss" 'BEGIN {
    printf "round %d: Flint / scikit-learn: time %.2f (goal ≤ 0.5), peak RSS %.2f\n", '"$round"', f / s, fr / 1024 / sr }'
done
