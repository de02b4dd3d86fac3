#!/usr/bin/env bash
# scripts/setup.sh: install what the tests, the demo and the benchmarks
# drive for real, when it is missing. `make test`, `make demo` and .ci/run
# call it; run it by hand any time.
#
#   As root on Debian/Ubuntu: apt-get installs the missing packages (their
#   services are not started), go install the missing Go tools, and every
#   install is named on stderr. Nothing missing: silent, in milliseconds.
#   Otherwise (no root, no apt-get, no network): it names what is missing
#   and how to get it, and exits 0. Tests whose tool is missing skip and
#   say why; nothing fails for lack of a tool.
#
# EDGECTL_SETUP=skip turns it off (a machine you prepare yourself);
# EDGECTL_SETUP=check only reports, even as root.
set -uo pipefail

mode=${EDGECTL_SETUP:-install}
[ "$mode" = skip ] && exit 0
say() { printf 'setup: %s\n' "$*" >&2; }

# A command counts as present when it is in PATH or in the sbin
# directories a non-root PATH leaves out.
have() {
  local p
  p=$(PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" command -v "$1" 2>/dev/null) && [ -x "$p" ]
}

# command → Debian package, and what needs it.
#   ip (namespaces), python3 (asyncio and plain-socket backends), curl,
#   sshd + ssh (real SSH), systemd-nspawn + debootstrap (the VPS testbed),
#   nginx (diagnose, bench), nft + iptables-save (firewall cases), flock,
#   sysctl, haproxy and named + dig (comparisons, RFC 2136 DNS), wrk and
#   caddy (bench),
#   gcc (go test -race needs cgo), libnginx-mod-stream (import nginx's
#   stream case).
pkgs=(
  ip:iproute2 python3:python3 curl:curl sshd:openssh-server ssh:openssh-client
  ssh-keygen:openssh-client systemd-nspawn:systemd-container debootstrap:debootstrap
  nginx:nginx-light nft:nftables iptables-save:iptables flock:util-linux sysctl:procps
  haproxy:haproxy named:bind9 dig:bind9-dnsutils wrk:wrk caddy:caddy gcc:gcc
)
missing=()
for p in "${pkgs[@]}"; do
  cmd=${p%%:*} pkg=${p#*:}
  if ! have "$cmd" && [[ " ${missing[*]} " != *" $pkg "* ]]; then
    missing+=("$pkg")
  fi
done
# nginx's stream module (import nginx reads a stream block through the real nginx).
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || missing+=(libnginx-mod-stream)

# Go tools: module@version → binary.
gotools=(
  honnef.co/go/tools/cmd/staticcheck@v0.8.2
  github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
)
gobin=""
if command -v go >/dev/null 2>&1; then
  gobin=$(go env GOBIN)
  [ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
fi
gomissing=()
for m in "${gotools[@]}"; do
  b=${m%@*}; b=${b##*/}
  if ! have "$b" && ! { [ -n "$gobin" ] && [ -x "$gobin/$b" ]; }; then
    gomissing+=("$m")
  fi
done

[ ${#missing[@]} -eq 0 ] && [ ${#gomissing[@]} -eq 0 ] && exit 0

root=false
[ "$(id -u)" = 0 ] && root=true
if [ ${#missing[@]} -gt 0 ]; then
  if $root && [ "$mode" = install ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt-get)"
    # Install without starting services: a packaged nginx or named
    # listening on the host would only get in the tests' way.
    policy=/usr/sbin/policy-rc.d
    made_policy=false
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=true
    fi
    export DEBIAN_FRONTEND=noninteractive
    ok=true
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
      apt-get update -qq >/dev/null || ok=false
    fi
    $ok && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || ok=false
    $made_policy && rm -f "$policy"
    $ok || say "apt-get install ${missing[*]} failed; the tests that need them will skip"
  else
    why="not root"
    $root && why="no apt-get"
    [ "$mode" = check ] && why="EDGECTL_SETUP=check"
    say "missing: ${missing[*]} ($why: run 'sudo bash scripts/setup.sh' or apt-get install them); tests that need them skip and say why"
  fi
fi
if [ ${#gomissing[@]} -gt 0 ]; then
  if [ -z "$gobin" ]; then
    say "missing: ${gomissing[*]} (no go in PATH)"
  elif $root && [ "$mode" = install ]; then
    for m in "${gomissing[@]}"; do
      say "installing $m (go install)"
      if ! out=$(go install "$m" 2>&1); then
        say "go install $m failed:"
        printf '%s\n' "$out" >&2
      fi
    done
  else
    say "missing: ${gomissing[*]} (run: go install MODULE@VERSION for each)"
  fi
fi
exit 0
