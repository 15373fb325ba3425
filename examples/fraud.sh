#!/usr/bin/env bash
# The streaming-features example end to end, on the embedded defaults (make run-fraud):
# a week of card payments posted to flint features run's HTTP ingest endpoint, the card
# activity features kept current, a fraud model trained on them as of each payment, and
# served from the card alone. Everything lives under flint-data/fraud.
set -euo pipefail
FLINT=${FLINT:-flint}
DIR=${FRAUD_DIR:-flint-data/fraud}
INGEST=${FRAUD_INGEST_ADDR:-127.0.0.1:8090}
METRICS=${FRAUD_METRICS_ADDR:-127.0.0.1:9464}
ADDR=${FRAUD_SERVE_ADDR:-127.0.0.1:8080}
rm -rf "$DIR"
mkdir -p "$DIR"
export FLINT_LOG="dir:$DIR/log" FLINT_STORE="dir:$DIR/models"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# wait_for CMD... runs CMD until it succeeds, for up to a minute.
wait_for() {
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "gave up waiting for: $*" >&2
  return 1
}

step "1. flint features run: the card activity features (examples/fraud/card_activity.yaml), with an HTTP ingest endpoint"
"$FLINT" log create transactions --partitions 4
"$FLINT" features run -f examples/fraud/card_activity.yaml --state "$DIR/state" --http "$INGEST" --metrics "$METRICS" \
  2>"$DIR/features.log" & pids+=($!)
wait_for curl -fsS "http://$METRICS/metrics"

step "2. a service posts a week of payments (2 000 cards, 100 of them stolen and drained) to the endpoint"
go run ./examples/datagen fraud-batches >"$DIR/batches.jsonl"
n=0
while read -r body; do
  curl -fsS -X POST "http://$INGEST/v1/topics/transactions/records" -H 'Content-Type: application/json' --data-binary "$body" >"$DIR/last-ack.json"
  n=$((n + 1))
done <"$DIR/batches.jsonl"
echo "posted $n requests of up to 1 000 payments; the last one was acknowledged with:"
head -c 160 "$DIR/last-ack.json"; echo " …"

step "3. the processor catches up"
caught_up() {
  local m; m=$(curl -fsS "http://$METRICS/metrics")
  grep -q '^flint_features_lag_records{[^}]*} 0$' <<<"$m" && grep -q '^flint_features_events_total{[^}]*outcome="applied"[^}]*} [1-9]' <<<"$m"
}
wait_for caught_up
curl -fsS "http://$METRICS/metrics" | grep -E '^flint_features_(events_total|lag_records)'
echo "\$ flint features get examples/fraud/card_activity.yaml card-0001 --table"
"$FLINT" features get examples/fraud/card_activity.yaml card-0001 --table

step "4. train the fraud model on the payments, each with the card's activity just before it (examples/fraud/fraud-job.yaml)"
"$FLINT" train -f examples/fraud/fraud-job.yaml

step "5. serve it: a request gives the card and the payment; the server fills the card's activity in"
"$FLINT" serve --addr "$ADDR" >"$DIR/serve.log" 2>&1 & pids+=($!)
wait_for curl -fsS "http://$ADDR/v2/health/ready"
stolen=$(grep -o '"card":"card-[0-9]*","at":"[^"]*","amount":[0-9.]*,"merchant":"m[0-9]*","fraud":1' "$DIR/batches.jsonl" | tail -1 | grep -o 'card-[0-9]*')
body="{\"rows\": [{\"card\": \"card-0001\", \"amount\": 64.0, \"merchant\": \"m123\"}, {\"card\": \"$stolen\", \"amount\": 64.0, \"merchant\": \"m123\"}]}"
echo "\$ curl -s -X POST http://$ADDR/v1/models/fraud/aliases/production/predict -d '$body'"
wait_for curl -fsS -X POST "http://$ADDR/v1/models/fraud/aliases/production/predict" -H 'Content-Type: application/json' -d "$body"
curl -fsS -X POST "http://$ADDR/v1/models/fraud/aliases/production/predict" -H 'Content-Type: application/json' -d "$body"
echo
echo "(the same payment from two cards: card-0001 pays as it always does; $stolen has been drained for the last"
echo " half hour, and its activity, filled in by the server, gives it away)"
curl -fsS "http://$ADDR/metrics" | grep -E '^flint_serving_feature_(replica_keys|age_seconds_count)'
step "done"
