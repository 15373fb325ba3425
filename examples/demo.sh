#!/usr/bin/env bash
# The `make run` demo on the embedded defaults: ingest → train → publish → serve.
# Everything lives under flint-data/demo (removed at the start of each run).
set -euo pipefail
FLINT=${FLINT:-flint}
DIR=${DEMO_DIR:-flint-data/demo}
ADDR=${DEMO_ADDR:-127.0.0.1:8080}
DRIVER_ADDR=${DEMO_DRIVER_ADDR:-127.0.0.1:7077}
rm -rf "$DIR"
mkdir -p "$DIR"
export FLINT_LOG="dir:$DIR/log" FLINT_STORE="dir:$DIR/models"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. ingest 20 000 house sales (JSON lines) into the embedded log, keyed by id"
go run ./examples/datagen houses >"$DIR/houses.jsonl"
"$FLINT" ingest --topic houses --schema examples/houses-linreg.yaml --key id "$DIR/houses.jsonl"
"$FLINT" log describe houses

step "2. train examples/houses-linreg.yaml: one-hot cities, a grid over the penalty, publish"
"$FLINT" train -f examples/houses-linreg.yaml

step "3. and a k-means job on 50 000 points in 8 dimensions"
go run ./examples/datagen blobs | "$FLINT" ingest --topic blobs --schema examples/blobs-kmeans.yaml
"$FLINT" train -f examples/blobs-kmeans.yaml

step "4. the same k-means job on 2 worker processes (flint train --listen is their driver; each worker reads its"
echo "   partitions from the embedded log itself) — the model is identical: compare the inertia with step 3"
"$FLINT" worker --driver "$DRIVER_ADDR" 2>"$DIR/worker1.log" & w1=$!
"$FLINT" worker --driver "$DRIVER_ADDR" 2>"$DIR/worker2.log" & w2=$!
trap 'kill $w1 $w2 2>/dev/null' EXIT
"$FLINT" train --listen "$DRIVER_ADDR" --workers 2 -f examples/blobs-kmeans.yaml
kill $w1 $w2; wait $w1 $w2 2>/dev/null || true
trap - EXIT

step "5. the model registry"
"$FLINT" models ls
"$FLINT" models show houses

step "6. serve the store at http://$ADDR"
"$FLINT" serve --addr "$ADDR" >"$DIR/serve.log" 2>&1 &
server=$!
stop_server() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
# Ready means this server said it listens and answers: a busy port makes it
# exit, and whatever else answers on that port must not pass for it.
ready=
for _ in $(seq 1 100); do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "flint serve exited before it was ready (is $ADDR in use? set DEMO_ADDR=HOST:PORT):" >&2
    cat "$DIR/serve.log" >&2
    exit 1
  fi
  if grep -q "flint serve: http://$ADDR" "$DIR/serve.log" && curl -fsS "http://$ADDR/v2/health/ready" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
if [ -z "$ready" ]; then
  echo "flint serve did not become ready on $ADDR within 20 s:" >&2
  cat "$DIR/serve.log" >&2
  exit 1
fi
curl_line="curl -s -X POST http://$ADDR/v1/models/houses/aliases/production/predict -H 'Content-Type: application/json' -d '{\"rows\": [{\"id\": \"new\", \"area\": 75, \"rooms\": 3, \"city\": \"lyon\"}, {\"id\": \"new2\", \"area\": 120, \"rooms\": 4, \"city\": \"paris\"}]}'"
echo "\$ $curl_line"
eval "$curl_line"
echo
echo "\$ curl -s http://$ADDR/v2/models/houses"
curl -s "http://$ADDR/v2/models/houses"
echo

step "done: the server is still running (Ctrl-C stops it). Try:"
echo "  $curl_line"
echo "  curl -s http://$ADDR/v1/models"
echo "  curl -s http://$ADDR/metrics | grep flint_"
echo
echo "The binary is $FLINT; the demo's log and models are under $DIR. To use them from another shell:"
echo "  export FLINT_LOG=dir:$DIR/log FLINT_STORE=dir:$DIR/models"
echo "  $FLINT models ls"
echo "  $FLINT log topics"
# Ctrl-C ends the demo, not a failure: stop the server and exit 0.
trap 'stop_server; trap - EXIT; exit 0' INT TERM
wait "$server" || true
