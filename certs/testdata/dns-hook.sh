#!/bin/sh
# lego exec DNS provider hook for tests: "present|cleanup FQDN VALUE".
# Sets or clears the TXT record in pebble-challtestsrv through its
# management API at $CHALLTESTSRV (a loopback URL), which is the DNS server
# Pebble's VA and edgectl's propagation check both ask.
set -eu
case "$1" in
present) curl -fsS -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" "$CHALLTESTSRV/set-txt" ;;
cleanup) curl -fsS -X POST -d "{\"host\":\"$2\"}" "$CHALLTESTSRV/clear-txt" ;;
*) echo "dns-hook.sh: unknown command $1" >&2; exit 2 ;;
esac
