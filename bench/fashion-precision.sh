#!/usr/bin/env bash
# The Fashion-MNIST job (examples/fashion-logreg.yaml) with engine.precision float64 and float32, alternating on
# the same ingested log, so both see the same machine: per run the train wall time, the training phase, peak RSS,
# held-out accuracy and log-loss, and the final training loss (the last L-BFGS iteration's).
#   make build && bench/fashion-precision.sh        (ROUNDS=3 for more rounds)
set -euo pipefail
FLINT=${FLINT:-bin/flint}
ROUNDS=${ROUNDS:-2}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
go build -o "$D/datagen" ./examples/datagen
export FLINT_LOG="dir:$D/log"
"$D/datagen" fashion-train | "$FLINT" ingest --topic fashion --schema examples/fashion-logreg.yaml > /dev/null
for p in float64 float32; do
  { cat examples/fashion-logreg.yaml; echo "engine: {precision: $p}"; } > "$D/$p.yaml"
done
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
for round in $(seq "$ROUNDS"); do
  for p in float64 float32; do
    rm -rf "$D/models"
    t0=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$D/rss" "$FLINT" --store "dir:$D/models" train -f "$D/$p.yaml" > "$D/out" 2>&1
    t1=$(date +%s.%N)
    awk -v p="$p" -v r="$round" -v t="$(secs "$t0" "$t1")" -v rss="$(( $(cat "$D/rss") / 1024 ))" '
      /msg=iteration/ { match($0, /loss=[^ ]+/); loss = substr($0, RSTART + 5, RLENGTH - 5) }
      /msg=phase/ { match($0, /elapsed=[0-9.]+(ms|s|m[0-9.]+s)/); e = substr($0, RSTART + 8, RLENGTH - 8);
                    if (e ~ /ms$/) e = e / 1000; else if (e ~ /m/) { split(e, a, "m"); e = a[1] * 60 + a[2] } else e = e + 0;
                    if (phase ~ /^training/) train = e - last; phase = $0; sub(/.*phase="/, "", phase); sub(/".*/, "", phase); last = e }
      /^ +accuracy/ { acc = $2 } /^ +logloss/ { ll = $2 }
      END { printf "round %d %-8s train %6s s (training phase %.2f s)  peak RSS %4d MiB  held-out accuracy %s  logloss %s  final training loss %s\n",
                   r, p, t, train, rss, acc, ll, loss }' "$D/out"
  done
done
