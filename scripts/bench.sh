#!/usr/bin/env bash
# make bench: the agent against nginx on loopback, same backend, same load,
# rounds interleaved. Prints req/s, p99, errors, agent RSS and the
# agent/nginx ratios for two scenarios:
#   dual    backend on [::] (dual-stack): the [::1] primary answers
#   v4only  backend on 127.0.0.1 only: the [::1] primary refuses (the outage
#           install.sh created) and traffic must go to the 127.0.0.1 backup
#   attack  dual, while 2000 connections trickle request heads a byte a
#           second: the share of the normal load's req/s kept (want >= 0.90)
#           and the agent's RSS
# Tunables: BENCH_SECONDS (per round, default 8), BENCH_ROUNDS (default 3),
# BENCH_CONNS (default 64), BENCH_BACKEND (nginx|go, default nginx),
# BENCH_SLOW (slow connections in the attack scenario, default 2000),
# BENCH_ONLY (run only the scenarios named: "dual v4only attack").
# EDGECTL_BENCH_BASELINE=/path/to/an/older/edgectl runs that binary too, in
# the same rounds, and prints its column and its agent/nginx ratio beside
# the new one's: a before/after comparison on one machine in one run. E.g.
#   git archive --prefix=base/ main | tar -x -C /tmp && (cd /tmp/base && go build -o /tmp/edgectl-base ./cmd/edgectl)
#   EDGECTL_BENCH_BASELINE=/tmp/edgectl-base make bench
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
BACKEND=${BENCH_BACKEND:-nginx}
SLOW=${BENCH_SLOW:-2000}
ONLY=${BENCH_ONLY:-dual v4only attack}
BASE=${EDGECTL_BENCH_BASELINE:-}
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then
  echo "bench: EDGECTL_BENCH_BASELINE=$BASE is not an executable" >&2; exit 2
fi

bash scripts/setup.sh
need() { PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk; then
  echo "bench: needs nginx and wrk (run scripts/setup.sh as root)" >&2
  exit 1
fi

W=$(mktemp -d /tmp/edgectl-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

go build -o "$W/edgectl" ./cmd/edgectl
go build -o "$W/sampleapp" ./internal/sampleapp
go build -o "$W/slowclients" ./scripts/slowclients

# Ports: backend 18900, agent 18901, nginx proxy 18902.
BP=18900 AP=18901 NP=18902

start_backend() { # $1 = listen host for the backend: "[::]" or 127.0.0.1
  if [ "$BACKEND" = nginx ]; then
    local l="listen $1:$BP"
    [ "$1" = "[::]" ] && l="listen [::]:$BP ipv6only=off"
    cat >"$W/backend.conf" <<NGX
worker_processes 1;
pid $W/backend.pid;
error_log $W/backend.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { $l reuseport; location / { return 200 "ok\n"; } }
}
NGX
    nginx -c "$W/backend.conf" -p "$W"
  else
    "$W/sampleapp" -listen "$1:$BP" &
    echo $! >"$W/backend.pid"
  fi
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$BP/health" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bench: backend did not start" >&2; exit 1
}
stop_backend() {
  if [ -f "$W/backend.pid" ]; then kill "$(cat "$W/backend.pid")" 2>/dev/null || true; rm -f "$W/backend.pid"; fi
  sleep 0.3
}

cat >"$W/agent.yaml" <<YAML
listen:
  - addr: "127.0.0.1:$AP"
admin: ""
access_log: $W/agent-access.log
upstreams:
  backend_api:
    servers:
      - addr: "[::1]:$BP"
      - addr: "127.0.0.1:$BP"
        backup: true
    max_fails: 3
    fail_timeout: 30s
    keepalive: 32
    health:
      path: /health
      interval: 2s
routes:
  - path: /
    upstream: backend_api
YAML

cat >"$W/nginx.conf" <<NGX
worker_processes auto;
pid $W/nginx.pid;
error_log $W/nginx.err;
events { worker_connections 4096; }
http {
  access_log $W/nginx-access.log combined buffer=64k flush=1s;
  upstream backend_api {
    server [::1]:$BP max_fails=3 fail_timeout=30s;
    server 127.0.0.1:$BP backup;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$NP;
    location / {
      proxy_pass http://backend_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
NGX

start_agent() { # $1 = the binary (default: the one built from this tree)
  "${1:-$W/edgectl}" agent --config "$W/agent.yaml" 2>"$W/agent.log" &
  echo $! >"$W/agent.pid"
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$AP/health" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bench: agent did not start" >&2; cat "$W/agent.log" >&2; exit 1
}
stop_agent() { kill "$(cat "$W/agent.pid")" 2>/dev/null || true; wait "$(cat "$W/agent.pid")" 2>/dev/null || true; rm -f "$W/agent.pid"; }
start_nginx() { nginx -c "$W/nginx.conf" -p "$W"; sleep 0.3; }
stop_nginx() { kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; sleep 0.3; }

# run_wrk PORT → "reqs p99_ms errors"
run_wrk() {
  local out
  out=$(wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$1/api/v1/ping" 2>&1)
  echo "$out" >>"$W/wrk.log"
  local rps p99 errs non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(/,/,""); s=0; for (i=3;i<=NF;i+=2) s+=$(i+1); print s}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "${rps:-0} ${p99:-0} $(( ${errs:-0} + ${non2xx:-0} ))"
}

# sample_rss PID SECONDS → max VmRSS in MB while load runs
sample_rss() {
  local pid=$1 end=$((SECONDS + $2)) max=0 v
  while [ $SECONDS -lt $end ]; do
    v=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$max" ] && max=$v
    sleep 0.5
  done
  echo $((max / 1024))
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf "edgectl bench: %s rounds x %ss, %s connections, backend %s, %s cores\n" "$ROUNDS" "$SECS" "$CONNS" "$BACKEND" "$(nproc)"
if [ -n "$BASE" ]; then printf "baseline: %s (%s)\n" "$BASE" "$("$BASE" version 2>/dev/null | head -1)"; fi
# agent_round BIN OUT RSSOUT: one measured wrk run of an agent binary.
agent_round() {
  start_agent "$1"
  run_wrk $AP >/dev/null # warm-up is not counted: first connections, health round
  sample_rss "$(cat "$W/agent.pid")" "$SECS" >>"$3" &
  local rss_pid=$!
  run_wrk $AP >>"$2"
  wait "$rss_pid"
  stop_agent
}
for scen in dual v4only; do
  case " $ONLY " in *" $scen "*) ;; *) continue ;; esac
  if [ "$scen" = dual ]; then start_backend "[::]"; else start_backend 127.0.0.1; fi
  : >"$W/a.txt"; : >"$W/b.txt"; : >"$W/n.txt"; : >"$W/rss.txt"; : >"$W/brss.txt"
  for r in $(seq "$ROUNDS"); do
    agent_round "$W/edgectl" "$W/a.txt" "$W/rss.txt"
    if [ -n "$BASE" ]; then agent_round "$BASE" "$W/b.txt" "$W/brss.txt"; fi
    start_nginx
    run_wrk $NP >/dev/null
    run_wrk $NP >>"$W/n.txt"
    stop_nginx
  done
  stop_backend
  a_rps=$(awk '{print $1}' "$W/a.txt" | median); a_p99=$(awk '{print $2}' "$W/a.txt" | median)
  n_rps=$(awk '{print $1}' "$W/n.txt" | median); n_p99=$(awk '{print $2}' "$W/n.txt" | median)
  a_err=$(awk '{s+=$3} END {print s}' "$W/a.txt"); n_err=$(awk '{s+=$3} END {print s}' "$W/n.txt")
  rss=$(sort -n "$W/rss.txt" | tail -1)
  printf "\n%-8s %12s %10s %8s %8s\n" "$scen" "req/s" "p99 ms" "errors" "RSS MB"
  printf "%-8s %12.0f %10.2f %8d %8s\n" agent "$a_rps" "$a_p99" "$a_err" "$rss"
  if [ -n "$BASE" ]; then
    b_rps=$(awk '{print $1}' "$W/b.txt" | median); b_p99=$(awk '{print $2}' "$W/b.txt" | median)
    b_err=$(awk '{s+=$3} END {print s}' "$W/b.txt"); brss=$(sort -n "$W/brss.txt" | tail -1)
    printf "%-8s %12.0f %10.2f %8d %8s\n" baseline "$b_rps" "$b_p99" "$b_err" "$brss"
  fi
  printf "%-8s %12.0f %10.2f %8d %8s\n" nginx "$n_rps" "$n_p99" "$n_err" "-"
  printf "ratio    agent/nginx req/s %.3fx   p99 %.2fx\n" "$(echo "$a_rps / $n_rps" | bc -l)" "$(echo "$a_p99 / $n_p99" | bc -l)"
  if [ -n "$BASE" ]; then
    printf "ratio    baseline/nginx req/s %.3fx   p99 %.2fx\n" "$(echo "$b_rps / $n_rps" | bc -l)" "$(echo "$b_p99 / $n_p99" | bc -l)"
    printf "change   agent/nginx vs baseline/nginx: %+.1f%%\n" "$(echo "($a_rps / $b_rps - 1) * 100" | bc -l)"
  fi
  echo "$scen $a_rps $a_p99 $a_err $n_rps $n_p99 $n_err $rss" >>"$W/summary.txt"
done

# attack: the normal load alone, then the same load while $SLOW
# connections trickle their heads a byte a second (the agent closes each
# after header_timeout; they come back).
attack() { # $1 = binary, $2 = label
  start_backend "[::]"
  start_agent "$1"
  run_wrk $AP >/dev/null
  local calm slow rss
  calm=$(run_wrk $AP | awk '{print $1}')
  "$W/slowclients" -addr "127.0.0.1:$AP" -n "$SLOW" -for "$((SECS + 8))s" >"$W/slow.txt" &
  local slow_pid=$!
  sleep 4 # the slow connections are open
  sample_rss "$(cat "$W/agent.pid")" "$SECS" >"$W/arss.txt" &
  local rss_pid=$!
  slow=$(run_wrk $AP | awk '{print $1}')
  wait "$rss_pid"; rss=$(cat "$W/arss.txt")
  wait "$slow_pid" || true
  stop_agent
  stop_backend
  printf "%-8s %12.0f %12.0f %8.2f %8s   %s\n" "$2" "$calm" "$slow" "$(echo "$slow / $calm" | bc -l)" "$rss" "$(cat "$W/slow.txt")"
}
case " $ONLY " in *" attack "*)
  printf "\n%-8s %12s %12s %8s %8s\n" "attack" "calm req/s" "slow req/s" "kept" "RSS MB"
  attack "$W/edgectl" agent
  if [ -n "$BASE" ]; then attack "$BASE" baseline; fi
esac
if [ -s "$W/summary.txt" ] && grep -q '^dual' "$W/summary.txt" && grep -q '^v4only' "$W/summary.txt"; then
  dual_rps=$(awk '$1=="dual" {print $2}' "$W/summary.txt")
  v4_rps=$(awk '$1=="v4only" {print $2}' "$W/summary.txt")
  printf "\nv4only/dual (agent): %.2fx\n" "$(echo "$v4_rps / $dual_rps" | bc -l)"
fi
if [ -n "${BENCH_KEEP:-}" ]; then cp "$W/wrk.log" "$BENCH_KEEP"; fi
