package fleet

import (
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/agentconfig"
)

// Severity ranks a BackendFinding.
type Severity string

// Severities: an error stops the host's deploy before anything is
// written; a warning and an info are shown in the plan.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// BackendFinding is one thing the plan says about the backend on a host.
type BackendFinding struct {
	// Key is the fleet.yaml key it is about, e.g. "backend.env_file".
	Key      string   `json:"key"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// HostFile is what a host has at one path.
type HostFile struct {
	Exists bool
	Dir    bool
	// Mode is the permission bits.
	Mode fs.FileMode
	// Owner is the owning user's name (or uid when it has none).
	Owner string
}

// BackendHost is what a host has that the backend needs: the files at
// HostPaths (stat only: env_file is never read) and whether user and
// group exist.
type BackendHost struct {
	// Files by path; a path missing from the map was not looked at and is
	// not judged.
	Files       map[string]HostFile
	UserExists  bool
	GroupExists bool
}

// HostPaths lists the paths CheckBackend wants stat facts for: the exec
// program, working_dir, env_file and read_write_paths.
func (b *Backend) HostPaths() []string {
	var out []string
	if f := strings.Fields(b.Exec); len(f) > 0 {
		out = append(out, f[0])
	}
	for _, p := range append([]string{b.WorkingDir, b.EnvFile}, b.ReadWritePaths...) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CheckBackend judges a validated backend against the agent that will
// front it and the facts of one host: what is missing on the host (the
// program, working_dir, env_file, read_write_paths), what the app could
// not write, and where it would listen against the agent's upstream
// servers and health URL on loopback (an IPv4-only bind behind the [::1]
// primary, an IPv6-only uvicorn behind the 127.0.0.1 backup). Findings
// come in the order of the keys, errors first within a key.
func CheckBackend(b *Backend, agent *agentconfig.Config, host BackendHost) []BackendFinding {
	var out []BackendFinding
	add := func(key string, sev Severity, format string, a ...any) {
		out = append(out, BackendFinding{Key: key, Severity: sev, Message: fmt.Sprintf(format, a...)})
	}
	file := func(p string) (HostFile, bool) {
		f, ok := host.Files[p]
		return f, ok
	}
	if prog := strings.Fields(b.Exec); len(prog) > 0 {
		if f, ok := file(prog[0]); ok && !f.Exists {
			add("backend.exec", SeverityError, "%s does not exist on the host; install the app there first (deploy installs only its unit)", prog[0])
		} else if ok && (f.Dir || f.Mode&0o111 == 0) {
			add("backend.exec", SeverityError, "%s is not an executable file on the host (mode %04o)", prog[0], f.Mode)
		}
	}
	if f, ok := file(b.WorkingDir); ok && (!f.Exists || !f.Dir) {
		add("backend.working_dir", SeverityError, "working_dir %s is not a directory on the host; the unit would fail with status 200/CHDIR", b.WorkingDir)
	}
	if f, ok := file(b.EnvFile); ok {
		switch {
		case !f.Exists:
			add("backend.env_file", SeverityError, "env_file %s does not exist on the host; create it there (KEY=value lines, chmod 600): it never leaves the host", b.EnvFile)
		case f.Dir:
			add("backend.env_file", SeverityError, "env_file %s is a directory on the host, not a file of KEY=value lines", b.EnvFile)
		case f.Mode&0o077 != 0:
			add("backend.env_file", SeverityWarning, "env_file %s is readable by other users (mode %04o); chmod 600 %s", b.EnvFile, f.Mode, b.EnvFile)
		}
	}
	for i, p := range b.ReadWritePaths {
		key := fmt.Sprintf("backend.read_write_paths[%d]", i)
		f, ok := file(p)
		switch {
		case !ok:
		case !f.Exists:
			add(key, SeverityError, "%s does not exist on the host, and systemd refuses to start a unit whose ReadWritePaths= is missing; create it (owned by %s)", p, ownerHint(b))
		case b.DynamicUser():
			if f.Mode&0o002 == 0 {
				add(key, SeverityWarning, "%s is owned by %s (mode %04o): the dynamic user the app runs as cannot write it; set backend.user to give the app a fixed owner", p, f.Owner, f.Mode)
			}
		case host.UserExists && f.Owner != b.User && f.Mode&0o002 == 0:
			add(key, SeverityWarning, "%s is owned by %s (mode %04o), not by %s: the app may not be able to write it; chown -R %s %s", p, f.Owner, f.Mode, b.User, b.User, p)
		}
	}
	if b.User != "" && !host.UserExists {
		add("backend.user", SeverityInfo, "user %s does not exist on the host; deploy creates it (a system user without a login shell)", b.User)
	}
	if b.Group != "" && !host.GroupExists {
		add("backend.group", SeverityInfo, "group %s does not exist on the host; deploy creates it", b.Group)
	}
	out = append(out, CheckBackendBind(b, agent)...)
	return out
}

func ownerHint(b *Backend) string {
	if b.DynamicUser() {
		return "root, writable by the app"
	}
	return b.User
}

// CheckBackendBind compares where the backend listens (its socket, or
// what its exec binds) with the loopback addresses the agent and the
// health URL connect to on the same port. It needs no host facts.
func CheckBackendBind(b *Backend, agent *agentconfig.Config) []BackendFinding {
	var out []BackendFinding
	add := func(key string, format string, a ...any) {
		out = append(out, BackendFinding{Key: key, Severity: SeverityError, Message: fmt.Sprintf(format, a...)})
	}
	eb := ParseExecBind(b.Exec)
	sock, hasSock := b.SocketAddr()
	switch {
	case hasSock && eb.Program != "" && !eb.FD:
		add("backend.exec", "socket %s hands the app its listening socket as fd 3, but exec binds %s itself; %s", b.Socket, addrList(eb.Addrs), fdFlag(eb.Program))
		return out
	case !hasSock && eb.FD:
		add("backend.socket", "exec takes an inherited socket (fd 3) but backend has no socket: to hand it one; add socket: \"[::]:PORT\"")
		return out
	}
	var binds []bind
	switch {
	case hasSock:
		binds = []bind{{addr: sock, dual: sock.Addr().IsUnspecified() && sock.Addr().Is6(), what: "socket " + b.Socket}}
	case eb.Program != "":
		for _, a := range eb.Addrs {
			binds = append(binds, bind{addr: a, dual: a.Addr().IsUnspecified() && a.Addr().Is6() && !eb.Asyncio,
				what: eb.Program + " binding " + a.String(), asyncio: eb.Asyncio})
		}
	default:
		return nil // an unknown program: nothing is known about its sockets
	}
	for _, c := range consumers(b, agent) {
		var onPort []bind
		for _, bd := range binds {
			if bd.addr.Port() == c.addr.Port() {
				onPort = append(onPort, bd)
			}
		}
		if len(onPort) == 0 || accepts(onPort, c.addr.Addr()) {
			continue
		}
		w := onPort[0]
		if c.addr.Addr().Is6() {
			add(c.key, "IPv4-only bind behind the [%s] %s: %s accepts no IPv6, so %s is refused; set backend.socket: \"[::]:%d\" (one socket for both families) and %s",
				c.addr.Addr(), c.role, w.what, c.addr, c.addr.Port(), fdFlag(eb.Program))
		} else {
			why := "accepts no IPv4"
			if w.asyncio && w.addr.Addr().IsUnspecified() {
				why = "is IPv6-only (uvicorn's asyncio socket on :: refuses IPv4 whatever net.ipv6.bindv6only says)"
			}
			add(c.key, "IPv6-only bind behind the %s %s: %s %s, so %s is refused; set backend.socket: \"[::]:%d\" (one socket for both families) and %s",
				c.addr.Addr(), c.role, w.what, why, c.addr, c.addr.Port(), fdFlag(eb.Program))
		}
	}
	return out
}

// bind is one listening socket of the backend.
type bind struct {
	addr netip.AddrPort
	// dual: an IPv6 wildcard that accepts IPv4 as well.
	dual    bool
	asyncio bool
	what    string
}

// accepts reports whether a connection to a reaches one of the binds.
func accepts(binds []bind, a netip.Addr) bool {
	for _, b := range binds {
		switch ba := b.addr.Addr(); {
		case ba == a:
			return true
		case ba.IsUnspecified() && ba.Is6() == a.Is6():
			return true
		case ba.IsUnspecified() && b.dual && a.Is4():
			return true
		}
	}
	return false
}

// consumer is a loopback address something connects to the backend on.
type consumer struct {
	key  string // fleet.yaml key to point at
	role string // "primary (upstreams.api)", "health URL"
	addr netip.AddrPort
}

// consumers lists the agent's loopback upstream servers and the health
// URL's loopback address, in a stable order.
func consumers(b *Backend, agent *agentconfig.Config) []consumer {
	var out []consumer
	if agent != nil {
		for _, n := range slices.Sorted(maps.Keys(agent.Upstreams)) {
			u := agent.Upstreams[n]
			if u == nil {
				continue
			}
			for i, s := range u.Servers {
				ap, err := netip.ParseAddrPort(s.Addr)
				if err != nil || !ap.Addr().IsLoopback() {
					continue
				}
				role := "primary"
				if s.Backup {
					role = "backup"
				}
				out = append(out, consumer{key: fmt.Sprintf("agent.upstreams.%s.servers[%d].addr", n, i),
					role: role + " (upstreams." + n + ")", addr: ap})
			}
		}
	}
	if u, err := url.Parse(b.Health); err == nil && b.Health != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.IsLoopback() {
			if n, err := strconv.ParseUint(port, 10, 16); err == nil {
				out = append(out, consumer{key: "backend.health", role: "health URL", addr: netip.AddrPortFrom(a, uint16(n))})
			}
		}
	}
	return out
}

// fdFlag says how to start the program on the socket's fd 3.
func fdFlag(program string) string {
	switch program {
	case "uvicorn":
		return "start uvicorn with --fd 3 instead of --host/--port"
	case "gunicorn", "hypercorn":
		return "start " + program + " with --bind fd://3 instead of its other binds"
	}
	return "have the app take its listening socket from fd 3"
}

func addrList(as []netip.AddrPort) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = net.JoinHostPort(a.Addr().String(), strconv.Itoa(int(a.Port())))
	}
	return strings.Join(s, ", ")
}
