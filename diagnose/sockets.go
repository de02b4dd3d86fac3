package diagnose

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/remote"
)

// Socket is one listening TCP socket from /proc/net/tcp or tcp6.
type Socket struct {
	Addr  netip.AddrPort
	Inode uint64
	// Owner is the process holding it, nil when unknown (not root, the
	// process went away, or it lives in another PID namespace).
	Owner *Process
}

// Process is a program on the host.
type Process struct {
	PID     int
	Exe     string
	Cmdline string
	// Go is true for a Go binary (it carries Go build information).
	Go bool
	// Unit is the systemd unit from the process's cgroup ("" if none).
	Unit string
}

// Name is the executable's base name, or the first word of the command line.
func (p *Process) Name() string {
	if p.Exe != "" {
		return path.Base(strings.TrimSuffix(p.Exe, " (deleted)"))
	}
	if f := strings.Fields(p.Cmdline); len(f) > 0 {
		return path.Base(f[0])
	}
	return "?"
}

// String names the process for summaries: "python3.11 (pid 42)".
func (p *Process) String() string {
	if p == nil {
		return "an unknown process"
	}
	return fmt.Sprintf("%s (pid %d)", p.Name(), p.PID)
}

// Detail is the process with its executable and command line, for evidence.
func (p *Process) Detail() string {
	if p == nil {
		return p.String()
	}
	cmd := p.Cmdline
	if len(cmd) > 200 {
		cmd = cmd[:200] + "…"
	}
	return fmt.Sprintf("%s (pid %d, exe %s, cmdline %q)", p.Name(), p.PID, p.Exe, cmd)
}

// Kind classifies the program by how it binds "[::]": one of the Kind*
// constants.
func (p *Process) Kind() string {
	if p == nil {
		return KindUnknown
	}
	name := strings.ToLower(p.Name())
	cmd := strings.ToLower(p.Cmdline)
	switch {
	case strings.HasPrefix(name, "nginx"):
		return KindNginx
	case strings.HasPrefix(name, "python") || strings.Contains(cmd, "python"):
		for _, w := range []string{"uvicorn", "hypercorn", "asyncio", "aiohttp", "sanic"} {
			if strings.Contains(cmd, w) {
				return KindAsyncio
			}
		}
		return KindPython
	case p.Go:
		return KindGo
	case name == "node" || strings.HasPrefix(name, "node"):
		return KindNode
	}
	return KindUnknown
}

// Program kinds, by how they listen on "[::]".
const (
	KindGo      = "go"      // [::] is dual-stack whatever bindv6only says
	KindNode    = "node"    // libuv clears IPV6_V6ONLY: dual-stack
	KindAsyncio = "asyncio" // uvicorn, hypercorn, asyncio: sets IPV6_V6ONLY on "::"
	KindNginx   = "nginx"   // listen [::] is ipv6only=on by default
	KindPython  = "python"  // a plain socket: follows net.ipv6.bindv6only
	KindUnknown = "unknown"
)

// parseProcNet reads /proc/net/tcp or tcp6 and returns the listening
// sockets. Addresses are in host byte order per 32-bit word (little-endian
// on every platform edgectl targets).
func parseProcNet(data []byte) []Socket {
	var out []Socket
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		ap, ok := procAddr(f[1])
		if !ok {
			continue
		}
		inode, _ := strconv.ParseUint(f[9], 10, 64)
		out = append(out, Socket{Addr: ap, Inode: inode})
	}
	return out
}

func procAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, false
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// socketInodesCmd lists every process's socket descriptors in one command:
// "/proc/PID/fd:" headers followed by "… N -> socket:[INODE]" lines.
const socketInodesCmd = `ls -l /proc/[0-9]*/fd 2>/dev/null | grep -E '^/proc/|socket:'; true`

// parseSocketOwners maps socket inodes to pids from socketInodesCmd output.
func parseSocketOwners(out []byte) map[uint64]int {
	owners := map[uint64]int{}
	pid := 0
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "/proc/") && strings.HasSuffix(line, "/fd:") {
			pid, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, "/proc/"), "/fd:"))
			continue
		}
		i := strings.Index(line, "socket:[")
		if i < 0 || pid == 0 {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(line[i+len("socket:["):], "]"), 10, 64)
		if err == nil {
			if _, ok := owners[n]; !ok {
				owners[n] = pid
			}
		}
	}
	return owners
}

// processInfoCmd prints what parseProcessInfo reads for each pid.
func processInfoCmd(pids []int) string {
	var b strings.Builder
	b.WriteString("for p in")
	for _, p := range pids {
		fmt.Fprintf(&b, " %d", p)
	}
	b.WriteString(`; do echo "@@pid $p"; echo "exe=$(readlink /proc/$p/exe 2>/dev/null)"; ` +
		`printf 'cmd='; tr '\000\n' '  ' </proc/$p/cmdline 2>/dev/null; echo; ` +
		`if grep -qa 'Go buildinf:' /proc/$p/exe 2>/dev/null; then echo go=1; fi; ` +
		`echo "cgroup=$(grep -E '^0::|name=systemd' /proc/$p/cgroup 2>/dev/null | head -n 1)"; done; true`)
	return b.String()
}

// parseProcessInfo reads processInfoCmd output.
func parseProcessInfo(out []byte) map[int]*Process {
	procs := map[int]*Process{}
	var cur *Process
	for line := range strings.Lines(string(out)) {
		line = strings.TrimRight(line, "\n")
		if v, ok := strings.CutPrefix(line, "@@pid "); ok {
			pid, _ := strconv.Atoi(v)
			cur = &Process{PID: pid}
			procs[pid] = cur
			continue
		}
		if cur == nil {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "exe":
			cur.Exe = v
		case "cmd":
			cur.Cmdline = strings.TrimSpace(v)
		case "go":
			cur.Go = v == "1"
		case "cgroup":
			cur.Unit = unitFromCgroup(v)
		}
	}
	return procs
}

// unitFromCgroup returns "x.service" from "0::/system.slice/x.service".
func unitFromCgroup(line string) string {
	i := strings.LastIndexByte(line, '/')
	if i < 0 {
		return ""
	}
	u := line[i+1:]
	if strings.HasSuffix(u, ".service") {
		return u
	}
	return ""
}

// listeners reads the host's listening sockets and their owners.
func listeners(ctx context.Context, h remote.Host) ([]Socket, error) {
	var socks []Socket
	var errs []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := h.ReadFile(ctx, f)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		socks = append(socks, parseProcNet(data)...)
	}
	if len(errs) == 2 {
		return nil, fmt.Errorf("read listening sockets: %s", strings.Join(errs, "; "))
	}
	res, err := h.Run(ctx, socketInodesCmd, nil)
	if err != nil {
		return socks, nil // owners unknown; sockets still tell a lot
	}
	owners := parseSocketOwners(res.Stdout)
	var pids []int
	for _, s := range socks {
		if pid, ok := owners[s.Inode]; ok && !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return socks, nil
	}
	slices.Sort(pids)
	res, err = h.Run(ctx, processInfoCmd(pids), nil)
	if err != nil {
		return socks, nil
	}
	procs := parseProcessInfo(res.Stdout)
	for i := range socks {
		if pid, ok := owners[socks[i].Inode]; ok {
			socks[i].Owner = procs[pid]
		}
	}
	return socks, nil
}

// onPort returns the sockets listening on port, IPv4 and IPv6 apart.
func onPort(socks []Socket, port uint16) (v4, v6 []Socket) {
	for _, s := range socks {
		if s.Addr.Port() != port {
			continue
		}
		if s.Addr.Addr().Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	return v4, v6
}

// covers reports whether a listener on s accepts connections to a.
func covers(s Socket, a netip.AddrPort) bool {
	if s.Addr.Port() != a.Port() {
		return false
	}
	la := s.Addr.Addr()
	switch {
	case la == a.Addr():
		return true
	case la == netip.IPv4Unspecified():
		return a.Addr().Is4()
	case la == netip.IPv6Unspecified():
		return true // the IPv4 half depends on IPV6_V6ONLY
	}
	return false
}
