// Package diagnose finds the root cause of a 502, 503 or 504 on a host.
//
// [Run] works on a [remote.Host], so the same code diagnoses this machine
// (remote.Local) or another one over SSH: files are read through the host,
// commands run on it, and probes are dialled from it, so "[::1]" is always
// the diagnosed host's own loopback.
//
// A run has three steps. Discovery (discover.go) finds what to check: the
// upstreams of the edgectl agent (agent.yaml) or of nginx (`nginx -T`,
// parsed by package nginxconf), or a bare port or URL.
// Gathering (run.go) collects facts concurrently, every probe bounded by
// the probe timeout: listening sockets with their owning processes from
// /proc (sockets.go), HTTP probes per address family (probes.go), IPv6
// sysctls (sysctl.go), the backend's keepalive idle timeout (keepalive.go),
// the proxy's error log (errorlog.go), systemd units (systemd.go),
// firewall rules (firewall.go) and the certificate served (tlscert.go).
// Judging (checks.go, cause.go) turns the facts into checks, each with a
// stable id, a status, evidence and a fix, and combines them into the most
// likely root cause.
//
// The package prints nothing; cli renders the [Report].
package diagnose
