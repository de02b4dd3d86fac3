package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
)

// Listen opens a TCP listener for addr. A wildcard IPv6 address ("[::]:p",
// or ":p") is opened dual-stack: IPV6_V6ONLY is switched off on the socket
// itself, so IPv4 clients are accepted even where net.ipv6.bindv6only=1. On
// a host without IPv6 (a kernel without it, or IPv6 switched off with
// net.ipv6.conf.all.disable_ipv6=1) it falls back to IPv4 ("0.0.0.0:p") and
// logs a warning.
func Listen(ctx context.Context, addr string, log *slog.Logger) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	wildcard6 := host == "" || host == "::"
	if !wildcard6 {
		if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
			return (&net.ListenConfig{}).Listen(ctx, "tcp4", addr)
		}
		return (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	}
	if why := ipv6Disabled(); why != "" {
		return listen4(ctx, addr, port, errors.New(why), log)
	}
	lc := net.ListenConfig{Control: dualStackControl}
	ln, err := lc.Listen(ctx, "tcp6", net.JoinHostPort("::", port))
	if err == nil {
		return ln, nil
	}
	if !noIPv6(err) {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return listen4(ctx, addr, port, err, log)
}

// listen4 is the IPv4 fallback for a wildcard IPv6 addr on a host without
// IPv6; why says how that was found out.
func listen4(ctx context.Context, addr, port string, why error, log *slog.Logger) (net.Listener, error) {
	v4 := net.JoinHostPort("0.0.0.0", port)
	log.Warn("no IPv6 on this host; listening on IPv4 only", "addr", addr, "fallback", v4, "error", why.Error())
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp4", v4)
	if err != nil {
		return nil, fmt.Errorf("listen %s (no IPv6: %v): %w", v4, why, err)
	}
	return ln, nil
}

// disableIPv6Path is the sysctl that switches IPv6 off on every interface of
// the network namespace the process runs in.
const disableIPv6Path = "/proc/sys/net/ipv6/conf/all/disable_ipv6"

// ipv6Disabled explains why this host has IPv6 switched off, or returns ""
// when it has IPv6 (or cannot tell). With net.ipv6.conf.all.disable_ipv6=1
// the kernel still lets a socket bind [::] and hands it IPv4 through mapped
// addresses, so the dual-stack listen succeeds, but nothing can reach it
// over IPv6: that host has no IPv6 in all but name. An interface re-enabled
// on its own after the sysctl holds an IPv6 address, so a host where any
// interface has one keeps listening on [::].
func ipv6Disabled() string {
	b, err := os.ReadFile(disableIPv6Path)
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		return ""
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil {
			return ""
		}
	}
	return "net.ipv6.conf.all.disable_ipv6 is 1 and no interface has an IPv6 address"
}

// dualStackControl clears IPV6_V6ONLY before bind.
func dualStackControl(network, _ string, c syscall.RawConn) error {
	if network != "tcp6" {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("clear IPV6_V6ONLY: %w", serr)
	}
	return nil
}

// noIPv6 reports whether err means the host cannot do IPv6 at all.
func noIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.EPROTONOSUPPORT)
}
