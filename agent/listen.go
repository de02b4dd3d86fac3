package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
)

// Listen opens a TCP listener for addr. A wildcard IPv6 address ("[::]:p",
// or ":p") is opened dual-stack: IPV6_V6ONLY is switched off on the socket
// itself, so IPv4 clients are accepted even where net.ipv6.bindv6only=1. On
// a host without IPv6 it falls back to IPv4 ("0.0.0.0:p") and logs a
// warning.
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
	lc := net.ListenConfig{Control: dualStackControl}
	ln, err := lc.Listen(ctx, "tcp6", net.JoinHostPort("::", port))
	if err == nil {
		return ln, nil
	}
	if !noIPv6(err) {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	v4 := net.JoinHostPort("0.0.0.0", port)
	log.Warn("no IPv6 on this host; listening on IPv4 only", "addr", addr, "fallback", v4, "error", err.Error())
	ln, err4 := (&net.ListenConfig{}).Listen(ctx, "tcp4", v4)
	if err4 != nil {
		return nil, fmt.Errorf("listen %s (IPv6 failed: %v): %w", v4, err, err4)
	}
	return ln, nil
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
