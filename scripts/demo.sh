#!/usr/bin/env bash
# make demo: a fleet of three Debian VPS on this machine (systemd in network
# namespaces: vps1 dual-stack, vps2 IPv6-only, vps3 IPv4-only with
# net.ipv6.bindv6only=1), the agent and a sample backend deployed to all of
# them with `edgectl deploy`, then checked per address family with
# `edgectl sweep`, and one 502 named by `edgectl diagnose`.
# Needs root, systemd-container and debootstrap (the first run builds a
# Debian base tree, about a minute); elsewhere it runs the loopback demo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ] || ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "make demo: the fleet demo needs root, systemd-container and debootstrap; running the loopback demo instead." >&2
  exec bash scripts/demo-local.sh
fi

W=$(mktemp -d /tmp/edgectl-demo.XXXXXX)
BED="$W/bed"
cleanup() { go run ./internal/testbed/testbedctl down --dir "$BED" >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
say() { if [ -t 1 ]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }

[ -x bin/edgectl ] || make build
CGO_ENABLED=0 go build -o "$W/sampleapp" ./internal/sampleapp
go build -o "$W/testbedctl" ./internal/testbed/testbedctl

say "1. Boot three VPS (vps1 dual-stack, vps2 IPv6-only, vps3 IPv4-only with bindv6only=1)"
"$W/testbedctl" up --default3 --dir "$BED" --bind-ro "$W/sampleapp:/opt/sample/sampleapp" --owner $$

FLEET="$W/fleet.yaml"
cp "$BED/fleet.yaml" "$FLEET"
cat >>"$FLEET" <<'YAML'
agent:
  listen:
    - addr: "[::]:80"
  access_log: "off"
  drain: {delay: 1s, timeout: 5s}
  upstreams:
    backend_api:
      servers:
        - addr: "[::1]:8000"
        - addr: "127.0.0.1:8000"
          backup: true
      health: {path: /health, interval: 1s, rise: 1}
  routes:
    - path: /
      upstream: backend_api
backend:
  name: sample-api
  exec: "/opt/sample/sampleapp -listen [::]:8000"
  health: "http://[::1]:8000/health"
rollout: {batch: 1, health_timeout: 20s, drain: 1s}
sweep: {scheme: http, timeout: 2s}
YAML
echo "fleet file: $FLEET"

say "2. edgectl deploy: install the agent and the backend on every host, one at a time, health-gated"
bin/edgectl deploy "$FLEET" --yes

say "3. Every host answers on each family it has (and only those)"
for a in $(grep -E '^\s+ipv[46]:' "$FLEET" | awk '{print $2}' | tr -d '"'); do
  case $a in *:*) u="http://[$a]/";; *) u="http://$a/";; esac
  printf '%-28s ' "$u"; curl -s --max-time 3 "$u" || echo "FAILED"
done

say "4. Deploy again: nothing changed, nothing restarted"
bin/edgectl deploy "$FLEET" --yes

say "5. edgectl sweep: each host probed over IPv4 and IPv6 separately"
bin/edgectl sweep "$FLEET" --state "$W/sweep.json" || true

say "6. Break vps1's backend and let edgectl diagnose name it over SSH"
ssh -F /dev/null -i "$BED/id_ed25519" -o UserKnownHostsFile="$BED/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
  root@"$(grep -m1 -E '^\s+ipv4:' "$FLEET" | awk '{print $2}' | tr -d '"')" systemctl stop sample-api
bin/edgectl diagnose 502 --host vps1 -f "$FLEET" || true

say "Done. The testbed is removed on exit."
