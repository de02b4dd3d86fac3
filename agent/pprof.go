package agent

import (
	"fmt"
	"net"
	"net/netip"
)

// CheckPprofAddr accepts the address EDGECTL_PPROF asks the profiler to
// listen on only when it is loopback (127.0.0.1:6060, [::1]:6060,
// localhost:6060): the profiler shows memory and goroutines and can stall
// the process, so it never faces the network.
func CheckPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("EDGECTL_PPROF=%q is not host:port (e.g. 127.0.0.1:6060): %v", addr, err)
	}
	if port == "" || port == "0" {
		return fmt.Errorf("EDGECTL_PPROF=%q needs a port, e.g. 127.0.0.1:6060", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("EDGECTL_PPROF=%q: the profiler only listens on loopback (127.0.0.1 or [::1]), never on %q; reach it through ssh -L if needed", addr, host)
	}
	return nil
}
