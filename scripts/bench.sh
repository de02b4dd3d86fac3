#!/usr/bin/env bash
# make bench: edgectl's agent against HAProxy, nginx and Caddy on loopback:
# the same backend, the same load (wrk), rounds interleaved, access logs off
# for all four. For each scenario and each connection count it prints, per
# proxy, the median req/s, the median p99, the errors (socket errors and
# non-2xx, all rounds), the CPU microseconds per request (user+sys of the
# proxy's processes from /proc/PID/stat, divided by the requests served)
# and the largest RSS, then the ratios edgectl/HAProxy and edgectl/nginx.
#
# Run time with the defaults: about 26 minutes (measured on 2 cores). Each
# measurement is a start, a BENCH_WARMUP warm-up, a BENCH_SECONDS run and a
# stop, about SECONDS+WARMUP+2 s; there are proxies x scenarios x
# connection counts x rounds of them (5 x 2 x 3 x 5 = 150 x 10 s), plus the
# attack scenario (about 30 s per binary) and the builds. A baseline adds
# a sixth proxy (about 31 minutes in all).
#
# Scenarios:
#   dual    backend on [::] (dual-stack): the [::1] primary answers
#   v4only  backend on 127.0.0.1 only: the [::1] primary refuses (the outage
#           install.sh created) and traffic must go to the 127.0.0.1 backup
#   attack  dual, while 2000 connections trickle request heads a byte a
#           second: the share of the normal load's req/s the agent keeps
#           (want >= 0.90) and its RSS
# Tunables:
#   BENCH_SECONDS  seconds per measured run (default 6)
#   BENCH_WARMUP   seconds of unmeasured load after each start (default 2)
#   BENCH_ROUNDS   rounds, interleaved across the proxies (default 5: one
#                  6 s run here varies by about 10 %, so 3 rounds cannot rank
#                  proxies that differ by less)
#   BENCH_CONNS    wrk connection counts (default "64 256 1024")
#   BENCH_PROXIES  the proxies compared (default "haproxy nginx edgectl
#                  goroutines caddy"; goroutines is the agent with
#                  EDGECTL_ENGINE=goroutines, the engine before the event loops)
#   BENCH_BACKEND  go (internal/sampleapp, default) or nginx (return 200)
#   BENCH_SLOW     slow connections in the attack scenario (default 2000)
#   BENCH_ONLY     the scenarios run (default "dual v4only attack")
#   BENCH_KEEP     a file that receives every wrk output
# EDGECTL_BENCH_BASELINE=/path/to/an/older/edgectl runs that binary too, in
# the same rounds, and prints its row and its ratios beside the new one's:
# a before/after comparison on one machine in one run. E.g.
#   git archive --prefix=base/ main | tar -x -C /tmp && (cd /tmp/base && go build -o /tmp/edgectl-base ./cmd/edgectl)
#   EDGECTL_BENCH_BASELINE=/tmp/edgectl-base make bench
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-6}
WARM=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-5}
CONNS_LIST=${BENCH_CONNS:-64 256 1024}
PROXIES=${BENCH_PROXIES:-haproxy nginx edgectl goroutines caddy}
BACKEND=${BENCH_BACKEND:-go}
SLOW=${BENCH_SLOW:-2000}
ONLY=${BENCH_ONLY:-dual v4only attack}
BASE=${EDGECTL_BENCH_BASELINE:-}
if [ -n "$BASE" ] && [ ! -x "$BASE" ]; then
  echo "bench: EDGECTL_BENCH_BASELINE=$BASE is not an executable" >&2; exit 2
fi
case "$BACKEND" in go | nginx) ;; *) echo "bench: BENCH_BACKEND=$BACKEND: want go or nginx" >&2; exit 2 ;; esac

bash scripts/setup.sh
export PATH="$PATH:/usr/sbin:/sbin"
need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "bench: needs wrk (run scripts/setup.sh as root)" >&2
  exit 1
fi
if [ "$BACKEND" = nginx ] && ! need nginx; then
  echo "bench: BENCH_BACKEND=nginx needs nginx (run scripts/setup.sh as root)" >&2
  exit 1
fi
# The proxies that can run here; a missing one is named and left out.
RUN=()
for p in $PROXIES; do
  case "$p" in
    edgectl) RUN+=(edgectl); [ -n "$BASE" ] && RUN+=(baseline) ;;
    goroutines) RUN+=(goroutines) ;;
    haproxy | nginx | caddy)
      if need "$p"; then RUN+=("$p"); else echo "bench: $p is not installed (run scripts/setup.sh as root): left out" >&2; fi ;;
    *) echo "bench: BENCH_PROXIES: unknown proxy $p (want haproxy nginx edgectl goroutines caddy)" >&2; exit 2 ;;
  esac
done
# 1,024 client connections plus as many upstream ones, per proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TCK=$(getconf CLK_TCK)

W=$(mktemp -d /tmp/edgectl-bench.XXXXXX)
cleanup() {
  for f in "$W"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

go build -o "$W/edgectl" ./cmd/edgectl
go build -o "$W/sampleapp" ./internal/sampleapp
go build -o "$W/slowclients" ./scripts/slowclients

# Ports: backend 18900, agent 18901, nginx 18902, HAProxy 18903, Caddy 18904.
BP=18900
port_of() {
  case "$1" in edgectl | baseline | goroutines) echo 18901 ;; nginx) echo 18902 ;; haproxy) echo 18903 ;; caddy) echo 18904 ;; esac
}
# A process left listening on one of these ports would share it (HAProxy,
# nginx and the backend set SO_REUSEPORT) and silently take part of the
# load: the figures would be wrong, so refuse to start.
busy=$(ss -Hltn 2>/dev/null | awk '{print $4}' | grep -E ':1890[0-4]$' || true)
if [ -n "$busy" ]; then
  echo "bench: something already listens on $(echo $busy) (ports 18900-18904 are the bench's); stop it first (ss -ltnp shows which process)" >&2
  exit 1
fi

wait_http() { # URL WHAT: up to 5 s for a 2xx
  for _ in $(seq 50); do curl -fs "$1" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "bench: $2 did not start" >&2
  for f in "$W"/*.err; do [ -s "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
  exit 1
}

start_backend() { # $1 = listen host for the backend: "[::]" or 127.0.0.1
  if [ "$BACKEND" = nginx ]; then
    local l="listen $1:$BP"
    [ "$1" = "[::]" ] && l="listen [::]:$BP ipv6only=off"
    cat >"$W/backend.conf" <<NGX
worker_processes 1;
pid $W/backend.pid;
error_log $W/backend.err;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { $l reuseport; location / { return 200 "ok\n"; } }
}
NGX
    nginx -c "$W/backend.conf" -p "$W"
  else
    "$W/sampleapp" -listen "$1:$BP" 2>"$W/backend.err" &
    echo $! >"$W/backend.pid"
  fi
  wait_http "http://127.0.0.1:$BP/health" backend
}
stop_backend() {
  if [ -f "$W/backend.pid" ]; then kill "$(cat "$W/backend.pid")" 2>/dev/null || true; rm -f "$W/backend.pid"; fi
  sleep 0.3
}

# The same upstream everywhere: [::1] primary, 127.0.0.1 backup, passive
# failure marking (3 fails, 30 s), up to 32 idle upstream connections kept.
# The same request reaches the backend from every proxy: Host as the client
# sent it, and the five forwarding fields the agent writes by default
# (X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host,
# Forwarded), so no proxy saves itself or the backend work the others do.
cat >"$W/agent.yaml" <<YAML
listen:
  - addr: "127.0.0.1:$(port_of edgectl)"
admin: ""
access_log: "off"
drain:
  delay: 0s
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
worker_rlimit_nofile 16384;
pid $W/nginx.pid;
error_log $W/nginx.err;
events { worker_connections 8192; }
http {
  access_log off;
  upstream backend_api {
    server [::1]:$BP max_fails=3 fail_timeout=30s;
    server 127.0.0.1:$BP backup;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$(port_of nginx);
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP \$remote_addr;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header Forwarded "for=\$remote_addr;host=\\"\$http_host\\";proto=\$scheme";
    }
  }
}
NGX

# HAProxy: no log lines, so no access log; one process, a thread per core.
cat >"$W/haproxy.cfg" <<HAP
global
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  option redispatch
  retries 3
frontend fe
  bind 127.0.0.1:$(port_of haproxy)
  default_backend be
backend be
  option forwardfor
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header Forwarded "for=%[src];host=\\"%[req.hdr(host)]\\";proto=http"
  http-reuse safe
  server primary [::1]:$BP check inter 2s observe layer4 error-limit 3 on-error mark-down
  server backup 127.0.0.1:$BP check inter 2s backup
HAP

# Caddy: no log directive, so no access log; no admin endpoint, no HTTPS.
cat >"$W/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$(port_of caddy) {
	reverse_proxy [::1]:$BP 127.0.0.1:$BP {
		lb_policy first
		lb_try_duration 2s
		header_up X-Real-IP {remote_host}
		header_up Forwarded "for={remote_host};host=\"{hostport}\";proto={scheme}"
		fail_duration 30s
		max_fails 3
		transport http {
			keepalive 60s
			keepalive_idle_conns 32
		}
	}
}
CADDY

start_proxy() { # NAME
  local port
  port=$(port_of "$1")
  case "$1" in
    edgectl | baseline | goroutines)
      local bin="$W/edgectl" engine=""
      [ "$1" = baseline ] && bin=$BASE
      [ "$1" = goroutines ] && engine=goroutines
      EDGECTL_ENGINE=$engine "$bin" agent --config "$W/agent.yaml" 2>"$W/proxy.err" &
      echo $! >"$W/proxy.pid" ;;
    nginx)
      nginx -c "$W/nginx.conf" -p "$W" 2>"$W/proxy.err"
      for _ in $(seq 50); do [ -s "$W/nginx.pid" ] && break; sleep 0.1; done
      cp "$W/nginx.pid" "$W/proxy.pid" ;;
    haproxy)
      haproxy -db -f "$W/haproxy.cfg" >"$W/proxy.err" 2>&1 &
      echo $! >"$W/proxy.pid" ;;
    caddy)
      HOME=$W XDG_DATA_HOME=$W/caddy XDG_CONFIG_HOME=$W/caddy \
        caddy run --config "$W/Caddyfile" --adapter caddyfile >"$W/proxy.err" 2>&1 &
      echo $! >"$W/proxy.pid" ;;
  esac
  wait_http "http://127.0.0.1:$port/api/v1/ping" "$1"
}
stop_proxy() {
  local pid
  pid=$(cat "$W/proxy.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || true
  rm -f "$W/proxy.pid" "$W/nginx.pid"
}

# procs PID: the process and its children (nginx's workers).
procs() { echo "$1"; ps -o pid= --ppid "$1" 2>/dev/null || true; }
# cpu_ticks PID: user+sys clock ticks of the process and its children.
cpu_ticks() {
  local t=0 p v
  for p in $(procs "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# rss_kb PID: VmRSS of the process and its children.
rss_kb() {
  local t=0 p v
  for p in $(procs "$1"); do
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# sample_rss PID SECONDS → the largest RSS in MB while load runs
sample_rss() {
  local pid=$1 end=$((SECONDS + $2)) max=0 v
  while [ $SECONDS -lt $end ]; do
    v=$(rss_kb "$pid")
    [ "$v" -gt "$max" ] && max=$v
    sleep 0.5
  done
  echo $((max / 1024))
}

# run_wrk PORT CONNS SECS → "reqs_per_s p99_ms errors requests"
run_wrk() {
  local out
  out=$(wrk -t2 -c"$2" -d"${3}s" --timeout 5s --latency "http://127.0.0.1:$1/api/v1/ping" 2>&1)
  echo "$out" >>"$W/wrk.log"
  local rps p99 errs non2xx n
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(/,/,""); s=0; for (i=3;i<=NF;i+=2) s+=$(i+1); print s}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "${rps:-0} ${p99:-0} $(( ${errs:-0} + ${non2xx:-0} )) ${n:-0}"
}

# measure NAME CONNS → appends "req/s p99 errors cpu_us_per_req rss_mb" to $W/r.NAME.CONNS
measure() {
  local port pid t0 t1 res rss_pid rss rps p99 errs n
  port=$(port_of "$1")
  start_proxy "$1"
  pid=$(cat "$W/proxy.pid")
  # The warm-up is not counted: first connections, the first health
  # round, and in v4only the primary being marked down.
  run_wrk "$port" "$2" "$WARM" >/dev/null
  sample_rss "$pid" "$SECS" >"$W/rss.now" &
  rss_pid=$!
  t0=$(cpu_ticks "$pid")
  res=$(run_wrk "$port" "$2" "$SECS")
  t1=$(cpu_ticks "$pid")
  wait "$rss_pid"; rss=$(cat "$W/rss.now")
  stop_proxy
  read -r rps p99 errs n <<<"$res"
  local us=0
  [ "$n" -gt 0 ] && us=$(echo "($t1 - $t0) * 1000000 / $TCK / $n" | bc -l)
  echo "$rps $p99 $errs $us $rss" >>"$W/r.$1.$2"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
col() { awk -v c="$1" '{print $c}' "$2" | median; }
ratio() { # A B → A/B as 0.000x, or "-" when B is 0
  if [ "$(echo "$2 > 0" | bc -l)" = 1 ]; then printf "%.3fx" "$(echo "$1 / $2" | bc -l)"; else printf -- "-"; fi
}

printf "edgectl bench: %s rounds x %ss (+%ss warm-up), connections %s, backend %s, %s cores, proxies: %s\n" \
  "$ROUNDS" "$SECS" "$WARM" "$CONNS_LIST" "$BACKEND" "$(nproc)" "${RUN[*]}"
printf "versions: %s; %s; %s; caddy %s\n" "$(haproxy -v 2>/dev/null | head -1 | awk '{print "haproxy " $3}')" \
  "$(nginx -v 2>&1 | sed 's/.*: //')" "edgectl $(git describe --always --dirty 2>/dev/null || echo dev)" \
  "$(caddy version 2>/dev/null | awk '{print $1}')"
if [ -n "$BASE" ]; then printf "baseline: %s (%s)\n" "$BASE" "$("$BASE" version 2>/dev/null | head -1)"; fi

# report SCEN CONNS: the table of one scenario at one connection count.
report() {
  local scen=$1 c=$2 name f
  printf "\n%-7s %5s conns %10s %9s %7s %10s %7s\n" "$scen" "$c" "req/s" "p99 ms" "errors" "CPU us/req" "RSS MB"
  for name in "${RUN[@]}"; do
    f="$W/r.$name.$c"
    [ -s "$f" ] || continue
    printf "  %-17s %10.0f %9.2f %7d %10.1f %7d\n" "$name" "$(col 1 "$f")" "$(col 2 "$f")" \
      "$(awk '{s+=$3} END {print s+0}' "$f")" "$(col 4 "$f")" "$(awk '{print $5}' "$f" | sort -n | tail -1)"
  done
  local a b ref
  for a in edgectl goroutines baseline; do
    [ -s "$W/r.$a.$c" ] || continue
    for ref in haproxy nginx; do
      [ -s "$W/r.$ref.$c" ] || continue
      printf "  %-17s req/s %s   p99 %s   CPU/req %s\n" "$a/$ref" \
        "$(ratio "$(col 1 "$W/r.$a.$c")" "$(col 1 "$W/r.$ref.$c")")" \
        "$(ratio "$(col 2 "$W/r.$a.$c")" "$(col 2 "$W/r.$ref.$c")")" \
        "$(ratio "$(col 4 "$W/r.$a.$c")" "$(col 4 "$W/r.$ref.$c")")"
    done
  done
  # The agent's rank by req/s among the proxies measured (1 = fastest).
  if [ -s "$W/r.edgectl.$c" ]; then
    b=$(col 1 "$W/r.edgectl.$c")
    local rank=1 n=0
    for name in "${RUN[@]}"; do
      case "$name" in baseline | goroutines) continue ;; esac
      [ -s "$W/r.$name.$c" ] || continue
      n=$((n + 1))
      [ "$name" = edgectl ] && continue
      [ "$(echo "$(col 1 "$W/r.$name.$c") > $b" | bc -l)" = 1 ] && rank=$((rank + 1))
    done
    printf "  edgectl rank by req/s: %d of %d\n" "$rank" "$n"
    echo "$scen $c $b" >>"$W/summary.txt"
  fi
}

for scen in dual v4only; do
  case " $ONLY " in *" $scen "*) ;; *) continue ;; esac
  if [ "$scen" = dual ]; then start_backend "[::]"; else start_backend 127.0.0.1; fi
  rm -f "$W"/r.*
  for c in $CONNS_LIST; do
    for _ in $(seq "$ROUNDS"); do
      for name in "${RUN[@]}"; do measure "$name" "$c"; done
    done
    report "$scen" "$c"
  done
  stop_backend
done

# attack: the normal load alone, then the same load while $SLOW
# connections trickle their heads a byte a second (the agent closes each
# after header_timeout; they come back).
attack() { # $1 = edgectl or baseline
  local port calm slow rss
  port=$(port_of "$1")
  start_backend "[::]"
  start_proxy "$1"
  run_wrk "$port" 64 "$WARM" >/dev/null
  calm=$(run_wrk "$port" 64 "$SECS" | awk '{print $1}')
  "$W/slowclients" -addr "127.0.0.1:$port" -n "$SLOW" -for "$((SECS + 8))s" >"$W/slow.txt" &
  local slow_pid=$!
  sleep 4 # the slow connections are open
  sample_rss "$(cat "$W/proxy.pid")" "$SECS" >"$W/arss.txt" &
  local rss_pid=$!
  slow=$(run_wrk "$port" 64 "$SECS" | awk '{print $1}')
  wait "$rss_pid"; rss=$(cat "$W/arss.txt")
  wait "$slow_pid" || true
  stop_proxy
  stop_backend
  printf "  %-8s %12.0f %12.0f %8.2f %8s   %s\n" "$1" "$calm" "$slow" "$(echo "$slow / $calm" | bc -l)" "$rss" "$(cat "$W/slow.txt")"
}
case " $ONLY " in *" attack "*)
  case " ${RUN[*]} " in *" edgectl "*)
    printf "\n%-10s %12s %12s %8s %8s   (64 connections, %s slow ones)\n" "attack" "calm req/s" "slow req/s" "kept" "RSS MB" "$SLOW"
    attack edgectl
    if [ -n "$BASE" ]; then attack baseline; fi
  esac
esac
if [ -s "$W/summary.txt" ]; then
  for c in $CONNS_LIST; do
    d=$(awk -v c="$c" '$1=="dual" && $2==c {print $3}' "$W/summary.txt")
    v=$(awk -v c="$c" '$1=="v4only" && $2==c {print $3}' "$W/summary.txt")
    [ -n "$d" ] && [ -n "$v" ] && printf "v4only/dual (edgectl, %s connections): %s\n" "$c" "$(ratio "$v" "$d")"
  done
fi
if [ -n "${BENCH_KEEP:-}" ]; then cp "$W/wrk.log" "$BENCH_KEEP"; fi
