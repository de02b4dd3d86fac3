package netnstest

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
)

// bridgeName is the bridge inside the hub namespace; the hub holds nothing else but
// the veth ends, so the name need not be unique.
const bridgeName = "br0"

// Host numbers on the bridge; 1 is the bridge itself.
const (
	firstHost = 2
	lastHost  = 254
)

var (
	bridgeV4 = netip.MustParsePrefix("198.18.0.1/24")
	bridgeV6 = netip.MustParsePrefix("fd00:e:d9e::1/64")
)

// hub is the namespace holding this process's bridge. It is created by the first
// bridged namespace and deleted with the last, so a process leaves nothing behind
// even though tests have no hook that runs when the process ends.
var hub struct {
	mu    sync.Mutex
	name  string             // "" while there is no hub
	used  [lastHost + 1]bool // host numbers in use
	users int                // bridged namespaces alive
	next  int                // host number to try first
}

// hostV4 and hostV6 return host n's addresses: 198.18.0.n and fd00:e:d9e::n, the
// latter written with the same digits as n (host 12 is fd00:e:d9e::12).
func hostV4(n int) netip.Addr {
	a := bridgeV4.Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

func hostV6(n int) netip.Addr {
	v, err := strconv.ParseUint(strconv.Itoa(n), 16, 16)
	if err != nil {
		panic(fmt.Sprintf("netnstest: host number %d: %v", n, err))
	}
	a := bridgeV6.Addr().As16()
	a[14], a[15] = byte(v>>8), byte(v)
	return netip.AddrFrom16(a)
}

// attach plugs a veth pair between the hub's bridge and the namespace's eth0 and
// gives eth0 the requested addresses. The host number is recorded in ns.host at once,
// so ns.close gives it back even if a later step fails.
func (ns *NS) attach(v4, v6 bool) error {
	hubName, n, err := acquireHost()
	if err != nil {
		return err
	}
	ns.host = n
	// "veth" + a counter, never reused (old veths go away asynchronously);
	// a bare "v" + base 36 made "vf", which ip(8) parses as a keyword.
	veth := "veth" + strconv.FormatUint(nameCounter.Add(1), 36)
	steps := [][]string{
		{"-n", hubName, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns.name},
		{"-n", hubName, "link", "set", veth, "master", bridgeName, "up"},
	}
	if v4 {
		pfx := netip.PrefixFrom(hostV4(n), bridgeV4.Bits())
		steps = append(steps, []string{"-n", ns.name, "addr", "add", pfx.String(), "dev", "eth0"})
	}
	if v6 {
		pfx := netip.PrefixFrom(hostV6(n), bridgeV6.Bits())
		steps = append(steps, []string{"-n", ns.name, "-6", "addr", "add", pfx.String(), "dev", "eth0", "nodad"})
	}
	steps = append(steps, []string{"-n", ns.name, "link", "set", "eth0", "up"})
	for _, args := range steps {
		if _, err := runIP(args...); err != nil {
			return err
		}
	}
	if v4 {
		ns.v4 = hostV4(n)
	}
	if v6 {
		ns.v6 = hostV6(n)
	}
	return nil
}

// acquireHost returns the hub's name and a free host number, creating the hub if
// needed. Numbers are handed out round robin, so a number is not given again right
// after its namespace was deleted, while neighbour caches may still remember it.
func acquireHost() (string, int, error) {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	if hub.users == 0 {
		name, err := createHub()
		if err != nil {
			return "", 0, err
		}
		hub.name = name
	}
	const size = lastHost - firstHost + 1
	start := max(hub.next, firstHost)
	for i := range size {
		n := firstHost + (start-firstHost+i)%size
		if !hub.used[n] {
			hub.used[n] = true
			hub.users++
			hub.next = n + 1
			return hub.name, n, nil
		}
	}
	return "", 0, fmt.Errorf("all %d host numbers on the bridge are in use", size)
}

// releaseHost gives host number n back and deletes the hub after its last user.
func releaseHost(n int) error {
	hub.mu.Lock()
	defer hub.mu.Unlock()
	hub.used[n] = false
	hub.users--
	if hub.users > 0 {
		return nil
	}
	name := hub.name
	hub.name = ""
	if err := deleteNamespace(name); err != nil {
		return fmt.Errorf("delete bridge namespace: %w", err)
	}
	return nil
}

// createHub makes a namespace holding the bridge with its addresses.
func createHub() (string, error) {
	name, err := newName(kindHub)
	if err != nil {
		return "", err
	}
	if _, err := runIP("netns", "add", name); err != nil {
		return "", err
	}
	steps := [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		// Without snooping the bridge floods multicast, so neighbour discovery works
		// whether or not it saw a namespace's MLD reports.
		{"-n", name, "link", "add", bridgeName, "type", "bridge", "mcast_snooping", "0"},
		{"-n", name, "addr", "add", bridgeV4.String(), "dev", bridgeName},
		{"-n", name, "-6", "addr", "add", bridgeV6.String(), "dev", bridgeName, "nodad"},
		{"-n", name, "link", "set", bridgeName, "up"},
	}
	for _, args := range steps {
		if _, err := runIP(args...); err != nil {
			return "", errors.Join(fmt.Errorf("create bridge namespace: %w", err), deleteNamespace(name))
		}
	}
	return name, nil
}
