package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// DialContext opens a TCP connection from the host (an SSH direct-tcpip
// channel), so "[::1]:8000" is the host's own loopback. network is "tcp",
// "tcp4" or "tcp6"; with tcp4 or tcp6 the address must be an IP literal of
// that family, since the host would resolve a name to either. A refused or
// unreachable target gives an error matching the syscall errno (ECONNREFUSED,
// ENETUNREACH, …), and the connection supports deadlines.
func (s *SSH) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	fail := func(err error) (net.Conn, error) {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, s.name, err)
	}
	if network == "unix" {
		// direct-streamlocal@openssh.com; sshd allows it unless
		// AllowStreamLocalForwarding or DisableForwarding say no.
		ch, err := s.client.DialContext(ctx, "unix", addr)
		if err != nil {
			return fail(s.dialErr(ctx, err))
		}
		conn, err := bridge(ch, &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			ch.Close()
			return fail(err)
		}
		return conn, nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fail(err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return fail(fmt.Errorf("bad port %q", portStr))
	}
	ip, ipErr := netip.ParseAddr(host)
	switch network {
	case "tcp":
	case "tcp4", "tcp6":
		if ipErr != nil {
			return fail(fmt.Errorf("%s needs an IP address, not the name %q (the host would resolve it to either family)", network, host))
		}
		if is4 := ip.Unmap().Is4(); is4 != (network == "tcp4") || network == "tcp6" && ip.Is4In6() {
			return fail(fmt.Errorf("%s is not an %s address", host, map[bool]string{true: "IPv4", false: "IPv6"}[network == "tcp4"]))
		}
	default:
		return fail(fmt.Errorf("network %q: want tcp, tcp4, tcp6 or unix", network))
	}
	ch, err := s.client.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail(s.dialErr(ctx, err))
	}
	var raddr net.Addr = &net.TCPAddr{}
	if ipErr == nil {
		raddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	}
	conn, err := bridge(ch, raddr)
	if err != nil {
		ch.Close()
		return fail(err)
	}
	return conn, nil
}

// dialErr is openErr for a refused channel; any other failure (but the
// caller's own deadline) is the connection's: a *TransportError.
func (s *SSH) dialErr(ctx context.Context, err error) error {
	var oe *ssh.OpenChannelError
	if errors.As(err, &oe) || ctx.Err() != nil {
		return openErr(err)
	}
	return &TransportError{Host: s.name, Err: err}
}

// openErr adds the errno that sshd's message names, so callers (probe)
// can tell refused from unreachable with errors.Is.
func openErr(err error) error {
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) {
		return err
	}
	msg := strings.ToLower(oe.Message)
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH,
		syscall.ETIMEDOUT, syscall.EADDRNOTAVAIL, syscall.EAFNOSUPPORT, syscall.ECONNRESET} {
		if strings.Contains(msg, strings.ToLower(e.Error())) {
			return fmt.Errorf("%w (%w)", err, e)
		}
	}
	return err
}

// tunnelConn is our end of a socketpair whose other end is copied to and
// from the SSH channel, so the conn has real deadlines and half-close.
type tunnelConn struct {
	*net.UnixConn
	ch     io.Closer
	raddr  net.Addr
	closer sync.Once
}

func (c *tunnelConn) RemoteAddr() net.Addr { return c.raddr }
func (c *tunnelConn) LocalAddr() net.Addr  { return &net.TCPAddr{} }

// Close closes both our end and the channel.
func (c *tunnelConn) Close() error {
	err := c.UnixConn.Close()
	c.closer.Do(func() { c.ch.Close() })
	return err
}

type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

func bridge(ch net.Conn, raddr net.Addr) (net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	mine, err := fileConn(fds[0], "tunnel")
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	peer, err := fileConn(fds[1], "tunnel-peer")
	if err != nil {
		mine.Close()
		return nil, err
	}
	hc, _ := ch.(halfCloser)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // host → us
		defer wg.Done()
		io.Copy(peer, ch)
		peer.CloseWrite()
	}()
	go func() { // us → host
		defer wg.Done()
		io.Copy(ch, peer)
		if hc != nil {
			hc.CloseWrite()
		}
	}()
	go func() {
		wg.Wait()
		ch.Close()
		peer.Close()
	}()
	return &tunnelConn{UnixConn: mine, ch: ch, raddr: raddr}, nil
}

func fileConn(fd int, name string) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	return c.(*net.UnixConn), nil
}
