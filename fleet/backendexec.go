package fleet

import (
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// ExecBind is what a backend's command line says about where it listens.
type ExecBind struct {
	// Addrs are the addresses it binds itself.
	Addrs []netip.AddrPort
	// FD is set when it takes an inherited listening socket (--fd N,
	// --bind fd://N) instead.
	FD bool
	// Asyncio is set for uvicorn, whose "::" socket (made by Python's
	// asyncio) is IPv6-only whatever net.ipv6.bindv6only says.
	Asyncio bool
	// Program is the server's name as recognised ("uvicorn", "gunicorn",
	// "hypercorn"), "" for any other program.
	Program string
}

// ParseExecBind reads the listening addresses from a backend command line
// for the servers whose flags it knows: uvicorn (--host, --port, --fd,
// default 127.0.0.1:8000), gunicorn (-b/--bind, default 127.0.0.1:8000)
// and hypercorn (-b/--bind, default 127.0.0.1:8000), also when run as
// "python -m NAME". Any other program gives an ExecBind without
// addresses: nothing is known about it.
func ParseExecBind(exec string) ExecBind {
	args := strings.Fields(exec)
	var eb ExecBind
	start := -1
	for i, a := range args {
		name := path.Base(a)
		if i > 0 && args[i-1] == "-m" {
			name = a
		}
		switch name {
		case "uvicorn", "gunicorn", "hypercorn":
			eb.Program, start = name, i+1
		}
		if start >= 0 {
			break
		}
	}
	if start < 0 {
		return eb
	}
	eb.Asyncio = eb.Program == "uvicorn"
	host, port := "127.0.0.1", "8000"
	var binds []string
	for i := start; i < len(args); i++ {
		flag, val, inline := strings.Cut(args[i], "=")
		if !inline && i+1 < len(args) {
			val = args[i+1]
		}
		switch {
		case flag == "--fd" && eb.Program == "uvicorn":
			eb.FD = true
		case flag == "--host" && eb.Program == "uvicorn":
			host = val
		case flag == "--port" && eb.Program == "uvicorn":
			port = val
		case flag == "--uds" && eb.Program == "uvicorn":
			return ExecBind{Program: eb.Program, Asyncio: eb.Asyncio}
		case (flag == "-b" || flag == "--bind") && eb.Program != "uvicorn":
			binds = append(binds, val)
		default:
			continue
		}
		if !inline {
			i++
		}
	}
	if eb.FD {
		return eb
	}
	if eb.Program == "uvicorn" {
		binds = []string{bracket(host) + ":" + port}
	} else if len(binds) == 0 {
		binds = []string{"127.0.0.1:8000"}
	}
	for _, b := range binds {
		if strings.HasPrefix(b, "fd://") {
			eb.FD = true
			continue
		}
		if ap, ok := parseBind(b); ok {
			eb.Addrs = append(eb.Addrs, ap)
		}
	}
	return eb
}

// bracket puts an IPv6 literal in brackets for host:port.
func bracket(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

// parseBind reads "ip:port", "[v6]:port", "localhost:port", or "host" and
// ":port" forms gunicorn accepts ("" host = all IPv4 addresses).
func parseBind(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, true
	}
	host, port, ok := strings.Cut(s, ":")
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") > 1 {
		return netip.AddrPort{}, false
	}
	if !ok {
		port = "8000"
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	switch host {
	case "", "0.0.0.0":
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(n)), true
	case "localhost":
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(n)), true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(n)), true
}
