#!/usr/bin/env bash
# Serving against its floor: single-row predictions of a 100-feature
# logistic regression from the real server, and the same requests to a bare
# echo handler that reads the body and answers a fixed one, both on loopback
# and driven by wrk in another process (one thread, 16 connections, 1 s a
# run, 9 rounds of one run each in alternating order), with the access log off and on for every
# request. Prints both request rates and the server's median share of the floor over the rounds, and
# the CPU time per request of each (the servers' process; wrk is another) and the share of that.
#   bench/serving.sh            (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "bench/serving.sh: wrk is not installed (apt-get install -y wrk)" >&2
  exit 1
fi
go test ./serving -run '^$' -bench ServeWrk -benchtime 1x -timeout 10m |
  awk '/^BenchmarkServeWrk/ {
    for (i = 3; i < NF; i++) m[$(i+1)] = $i
    printf "%-42s server %7.0f req/s, echo floor %7.0f req/s: %5.1f %% (median of rounds)\n", $1, m["req/s"], m["floor-req/s"], m["%floor"]
    printf "%-42s server %7.1f CPU-µs/req, floor %7.1f CPU-µs/req: %5.1f %%\n", "", m["cpu-µs/req"], m["floor-cpu-µs/req"], m["%floor-cpu"]
  }'
