package testbed

import (
	"errors"
	"fmt"
)

// Service is a network namespace of its own on the run's bridge, for a
// service that the hosts and this machine both reach (a DNS primary, for
// instance), started by the caller with ip netns exec.
type Service struct {
	// Netns is the namespace's name.
	Netns string
	// IPv4 and IPv6 are its addresses on the bridge.
	IPv4, IPv6 string
	veth       string
}

// AddService plugs a new namespace into the bridge at host number n of the
// run's subnet (198.19.K.n and fd00:e:d9e:K::n), above the hosts'
// numbers. Its names follow the run's, so Cleanup removes a leftover one.
// Close it (before the Bed) with [Service.Close].
func (b *Bed) AddService(n int) (*Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n < 11+len(b.Hosts) || n > 254 {
		return nil, fmt.Errorf("testbed: service number %d is taken by a host or out of range; use %d-254", n, 11+len(b.Hosts))
	}
	i := 1000 + n // an index no host has, two base-36 digits
	s := &Service{Netns: netnsName(b.st.Prefix, i), IPv4: v4(b.st.K, n), IPv6: v6(b.st.K, n), veth: vethName(b.st.Prefix, i)}
	spec := HostSpec{Name: fmt.Sprintf("service-%d", n), IPv4: true, IPv6: true}
	if err := createHostNet(spec, hostNet{NS: s.Netns, Veth: s.veth, IPv4: s.IPv4, IPv6: s.IPv6}, b.st.Bridge, b.st.K); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// Close kills what still runs in the service's namespace and deletes it.
func (s *Service) Close() error {
	return errors.Join(deleteNetns(s.Netns), deleteLink(s.veth))
}

// Netns is the network namespace of the host (for ip netns exec, e.g. to
// add nftables rules that cut one family off).
func (h *Host) Netns() string { return h.st.Net.NS }
