package provision

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/remote"
)

// Address families of a port holder.
const (
	FamilyIPv4 = "ipv4"
	FamilyIPv6 = "ipv6"
	FamilyBoth = "ipv4+ipv6" // an IPv6 wildcard socket that also takes IPv4 (ss prints "*")
)

// PortHolder is another program listening where the agent must listen: a
// port deploy takes over with --takeover.
type PortHolder struct {
	// Port is the TCP port and Addr the listening address as ss prints it
	// ("0.0.0.0:80", "[::]:443", "*:80").
	Port int    `json:"port"`
	Addr string `json:"addr"`
	// Family is ipv4, ipv6 or ipv4+ipv6.
	Family string `json:"family"`
	// Program is the process name, PID its lowest process id (the master
	// of nginx and the like).
	Program string `json:"program"`
	PID     int    `json:"pid"`
	// Unit is the systemd unit the process runs in ("" when it is not a
	// service: deploy cannot stop it). Enabled and Active are what
	// systemctl is-enabled and is-active said before the takeover.
	Unit    string `json:"unit,omitempty"`
	Enabled string `json:"enabled,omitempty"`
	Active  string `json:"active,omitempty"`
}

// ssListener is one line of `ss -Hltnp`.
type ssListener struct {
	Addr    string // host:port as printed
	Host    string // without brackets or %interface; "*" for dual-stack any
	Port    int
	Program string
	PID     int // lowest pid of the users ("0" when ss could not tell)
}

// parseSS reads the output of `ss -Hltnp` (no header, listening TCP
// sockets, numeric, with processes). Lines it does not understand are
// skipped: they cannot be matched to a port anyway.
func parseSS(out string) []ssListener {
	var ls []ssListener
	for line := range strings.Lines(out) {
		fields := strings.Fields(line)
		// State Recv-Q Send-Q Local Peer [users:(...)]
		if len(fields) < 5 || fields[0] != "LISTEN" {
			continue
		}
		local := fields[3]
		i := strings.LastIndexByte(local, ':')
		if i <= 0 {
			continue
		}
		port, err := strconv.Atoi(local[i+1:])
		if err != nil || port <= 0 || port > 65535 {
			continue
		}
		host := strings.TrimSuffix(strings.TrimPrefix(local[:i], "["), "]")
		if j := strings.IndexByte(host, '%'); j >= 0 {
			host = host[:j]
		}
		if host == "" || strings.ContainsAny(host, "[]") {
			continue
		}
		l := ssListener{Addr: local, Host: host, Port: port}
		if len(fields) > 5 {
			l.Program, l.PID = parseUsers(strings.Join(fields[5:], " "))
		}
		ls = append(ls, l)
	}
	return ls
}

// parseUsers reads `users:(("nginx",pid=12,fd=6),("nginx",pid=11,fd=6))`
// into the first program name and the lowest pid.
func parseUsers(s string) (string, int) {
	rest, ok := strings.CutPrefix(s, "users:(")
	if !ok {
		return "", 0
	}
	prog, pid := "", 0
	for {
		start := strings.Index(rest, `("`)
		if start < 0 {
			return prog, pid
		}
		rest = rest[start+2:]
		end := strings.Index(rest, `",`)
		if end < 0 {
			return prog, pid
		}
		name := rest[:end]
		rest = rest[end+2:]
		if prog == "" {
			prog = name
		}
		attrs, _, _ := strings.Cut(rest, ")")
		for _, kv := range strings.Split(attrs, ",") {
			if v, ok := strings.CutPrefix(kv, "pid="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 && (pid == 0 || n < pid) {
					pid = n
				}
			}
		}
	}
}

// family of a listener host as ss prints it.
func (l ssListener) family() string {
	switch {
	case l.Host == "*":
		return FamilyBoth
	case strings.Contains(l.Host, ":"):
		return FamilyIPv6
	}
	return FamilyIPv4
}

// bindAddr is one address the agent binds: its family(ies) and IP
// (invalid for a wildcard).
type bindAddr struct {
	v4, v6 bool
	ip     netip.Addr
}

// agentBind says what binding host means for the agent: "", "::" and
// "[::]" are dual-stack wildcards (the agent turns IPV6_V6ONLY off).
func agentBind(host string) bindAddr {
	switch host {
	case "", "::":
		return bindAddr{v4: true, v6: true}
	case "0.0.0.0":
		return bindAddr{v4: true}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// A name: the agent resolves it; treat it as both wildcards, the
		// safe side.
		return bindAddr{v4: true, v6: true}
	}
	ip = ip.Unmap()
	return bindAddr{v4: ip.Is4(), v6: ip.Is6(), ip: ip}
}

// overlaps reports whether the agent's bind b fails while l listens on
// the same port: same family and either side a wildcard or the same IP.
func (b bindAddr) overlaps(l ssListener) bool {
	var lb bindAddr
	switch l.Host {
	case "*":
		lb = bindAddr{v4: true, v6: true}
	case "0.0.0.0":
		lb = bindAddr{v4: true}
	case "::":
		lb = bindAddr{v6: true}
	default:
		ip, err := netip.ParseAddr(l.Host)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		lb = bindAddr{v4: ip.Is4(), v6: ip.Is6(), ip: ip}
	}
	same := (b.v4 && lb.v4) || (b.v6 && lb.v6)
	return same && (!b.ip.IsValid() || !lb.ip.IsValid() || b.ip == lb.ip)
}

// NeededBinds are the addresses the agent's config listens on (HTTP(S)
// listeners and streams), as host:port.
func NeededBinds(cfg *agentconfig.Config) []string {
	var out []string
	for _, l := range cfg.Listen {
		out = append(out, l.Addr)
	}
	for _, s := range cfg.Streams {
		out = append(out, s.Listen)
	}
	return out
}

// isAgent reports whether a listener belongs to the edgectl agent itself.
func isAgent(program, unit string) bool {
	return unit == AgentUnitName || program == "edgectl"
}

// conflicts returns the listeners of other programs on the agent's binds,
// one per socket, in ss's order.
func conflicts(ls []ssListener, binds []string) []PortHolder {
	var out []PortHolder
	for _, l := range ls {
		if isAgent(l.Program, "") {
			continue
		}
		for _, a := range binds {
			host, port, err := net.SplitHostPort(a)
			if err != nil || strconv.Itoa(l.Port) != port {
				continue
			}
			if agentBind(host).overlaps(l) {
				out = append(out, PortHolder{Port: l.Port, Addr: l.Addr, Family: l.family(), Program: l.Program, PID: l.PID})
				break
			}
		}
	}
	return out
}

// unitFromCgroup finds the service unit in /proc/PID/cgroup
// ("0::/system.slice/nginx.service" → nginx.service; "" when the process
// is not in a service).
func unitFromCgroup(cgroup string) string {
	for line := range strings.Lines(cgroup) {
		line = strings.TrimSpace(line)
		// cgroup v2 ("0::/…") first; v1's name=systemd line says the same.
		_, p, ok := strings.Cut(line, ":/")
		if !ok || !(strings.HasPrefix(line, "0::") || strings.Contains(line, ":name=systemd:")) {
			continue
		}
		parts := strings.Split(p, "/")
		for i := len(parts) - 1; i >= 0; i-- {
			if strings.HasSuffix(parts[i], ".service") {
				return parts[i]
			}
		}
	}
	return ""
}

// GatherHolders finds the programs other than the agent that listen on the
// agent's binds: `ss -Hltnp`, then each holder's unit from
// /proc/PID/cgroup and whether systemd has it enabled and active. A host
// without ss (or where it fails) reports none.
func GatherHolders(ctx context.Context, h remote.Host, binds []string) ([]PortHolder, error) {
	if len(binds) == 0 {
		return nil, nil
	}
	res, err := h.Run(ctx, "ss -Hltnp 2>/dev/null || true", nil)
	if err != nil {
		return nil, fmt.Errorf("list listening sockets (ss -Hltnp): %w", err)
	}
	hs := conflicts(parseSS(string(res.Stdout)), binds)
	if len(hs) == 0 {
		return nil, nil
	}
	var pids []int
	for _, x := range hs {
		if x.PID > 0 && !slices.Contains(pids, x.PID) {
			pids = append(pids, x.PID)
		}
	}
	var b strings.Builder
	for _, pid := range pids {
		fmt.Fprintf(&b, "echo\necho '::cgroup %d'\ncat -- /proc/%d/cgroup 2>/dev/null\n", pid, pid)
	}
	b.WriteString("echo\necho '::end'\n")
	res, err = h.Run(ctx, b.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("read the port holders' cgroups: %w", err)
	}
	s := sections(res.Stdout)
	var units []string
	for i := range hs {
		hs[i].Unit = unitFromCgroup(s[fmt.Sprintf("cgroup %d", hs[i].PID)])
		if u := hs[i].Unit; u != "" && !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	// The agent under another name (an older binary path) is still the agent.
	hs = slices.DeleteFunc(hs, func(x PortHolder) bool { return isAgent(x.Program, x.Unit) })
	if len(units) == 0 {
		return hs, nil
	}
	b.Reset()
	q := remote.ShellQuote
	for _, u := range units {
		fmt.Fprintf(&b, "echo\necho '::enabled %s'\nsystemctl is-enabled -- %s 2>/dev/null\necho\necho '::active %s'\nsystemctl is-active -- %s 2>/dev/null\n", u, q(u), u, q(u))
	}
	b.WriteString("echo\necho '::end'\n")
	res, err = h.Run(ctx, b.String(), nil)
	if err != nil && remote.ExitCode(err) < 0 {
		return nil, fmt.Errorf("ask systemd about %s: %w", strings.Join(units, ", "), err)
	}
	s = sections(res.Stdout)
	for i := range hs {
		if u := hs[i].Unit; u != "" {
			hs[i].Enabled = strings.TrimSpace(s["enabled "+u])
			hs[i].Active = strings.TrimSpace(s["active "+u])
		}
	}
	return hs, nil
}
