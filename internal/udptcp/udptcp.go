// Package udptcp opens a UDP and a TCP socket on the same free port, what
// a test DNS server needs to answer over both transports.
package udptcp

import (
	"fmt"
	"net"
)

// Listen binds UDP on host:0, then TCP on the port the kernel chose,
// retrying with another port when that port's TCP twin is taken (up to
// 20 tries). family is "4" or "6" ("" for either).
func Listen(host, family string) (net.PacketConn, net.Listener, error) {
	var last error
	for range 20 {
		pc, err := net.ListenPacket("udp"+family, net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp"+family, pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		last = err
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP on %s: %w", host, last)
}
