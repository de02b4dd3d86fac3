#!/usr/bin/env bash
# make demo-local: the classic 502, and the agent making it a non-event.
# The app binds 127.0.0.1 only (IPv4) while the proxy prefers [::1] -- the
# setup that made nginx return 502s. The agent knows the [::1] primary is
# down before the first request, serves every request from the IPv4 backup,
# and fails back to [::1] as soon as an IPv6 listener appears.
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/edgectl-demo.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

[ -x bin/edgectl ] || make build
go build -o "$W/sampleapp" ./internal/sampleapp
APP=18700 AGENT=18780

"$W/sampleapp" -listen "127.0.0.1:$APP" 2>"$W/app4.log" & PIDS+=($!)
cat >"$W/agent.yaml" <<YAML
listen:
  - addr: "[::]:$AGENT"
admin: $W/agent.sock
access_log: $W/access.log
drain: {delay: 0s, timeout: 2s}
upstreams:
  backend_api:
    servers:
      - addr: "[::1]:$APP"
      - addr: "127.0.0.1:$APP"
        backup: true
    health: {path: /health, interval: 500ms, rise: 2, fall: 2}
routes:
  - path: /
    upstream: backend_api
YAML
bin/edgectl agent --config "$W/agent.yaml" 2>"$W/agent.log" & PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$AGENT/health" >/dev/null 2>&1 && break; sleep 0.1; done

say() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }
say "1. The app listens on 127.0.0.1:$APP only; the agent's primary is [::1]:$APP (refused)."
curl -s --unix-socket "$W/agent.sock" http://agent/status | python3 -c '
import json,sys
s=json.load(sys.stdin)
for u in s["upstreams"]:
    for p in u["servers"]:
        print("   %-18s %-7s %-5s %s" % (p["addr"], "backup" if p["backup"] else "primary", p["state"], p.get("reason","")))'
say "2. Clients on both address families, 20 requests each: no 502."
for fam in 4 6; do
  host=127.0.0.1; [ $fam = 6 ] && host="[::1]"
  codes=$(for _ in $(seq 20); do curl -s -o /dev/null -w '%{http_code}\n' "http://$host:$AGENT/api/v1/ping"; done | sort | uniq -c | tr -s ' ' | paste -sd, -)
  echo "   IPv$fam client -> agent: HTTP status counts:$codes   ($(curl -s "http://$host:$AGENT/api/v1/ping"))"
done
say "3. Fix the app: also listen on [::1]:$APP. The agent fails back after rise x interval."
"$W/sampleapp" -listen "[::1]:$APP" 2>"$W/app6.log" & PIDS+=($!)
start=$(date +%s%N)
until curl -s "http://127.0.0.1:$AGENT/x" | grep -q '\[::1\]'; do sleep 0.1; done
echo "   traffic back on [::1] after $(( ($(date +%s%N) - start) / 1000000 )) ms: $(curl -s "http://127.0.0.1:$AGENT/x")"
say "4. The agent's own health (what deploy and sweep read):"
echo "   $(curl -s "http://[::1]:$AGENT/health")"
say "5. Metrics (excerpt):"
curl -s --unix-socket "$W/agent.sock" http://agent/metrics | grep -E '^edgectl_(upstream_up|upstream_failovers_total|requests_total)' | sed 's/^/   /'
say "6. Access log (last 2 lines):"
tail -2 "$W/access.log" | sed 's/^/   /'
echo
