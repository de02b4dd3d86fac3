package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// allocLock serialises the choice of a subnet between concurrent runs.
const allocLock = "/run/edgectl-testbed.lock"

// subnetRE finds the bridge addresses 198.19.K.1 already in use.
var subnetRE = regexp.MustCompile(`inet 198\.19\.(\d{1,3})\.1/`)

// v4 and v6 give the addresses of host number n (1 = the bridge) in subnet k.
// The IPv6 group and last group reuse the decimal digits, read as hex, so
// 198.19.7.12 pairs with fd00:e:d9e:7::12.
func v4(k, n int) string { return fmt.Sprintf("198.19.%d.%d", k, n) }
func v6(k, n int) string { return fmt.Sprintf("fd00:e:d9e:%d::%d", k, n) }

// createBridge picks a free subnet K and creates the run's bridge holding
// 198.19.K.1/24 and fd00:e:d9e:K::1/64, under a lock so two runs never
// take the same K (the bridge's address is what marks K as taken).
func createBridge(ctx context.Context, name string) (int, error) {
	unlock, err := lockFile(ctx, allocLock)
	if err != nil {
		return 0, err
	}
	defer unlock()
	out, err := run("ip", "-4", "-o", "addr", "show")
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, m := range subnetRE.FindAllStringSubmatch(out, -1) {
		k, _ := strconv.Atoi(m[1])
		used[k] = true
	}
	k := 0
	for c := 1; c <= 254; c++ {
		if !used[c] {
			k = c
			break
		}
	}
	if k == 0 {
		return 0, errors.New("create bridge: all 254 subnets 198.19.K.0/24 are taken; run testbedctl cleanup or close other runs")
	}
	batch := fmt.Sprintf("link add %[1]s type bridge\nlink set %[1]s up\naddr add %[2]s/24 dev %[1]s\n"+
		"addr add %[3]s/64 dev %[1]s nodad\n", name, v4(k, 1), v6(k, 1))
	if _, err := runIn([]byte(batch), "ip", "-batch", "-"); err != nil {
		_, _ = run("ip", "link", "del", name)
		return 0, fmt.Errorf("create bridge %s: %w", name, err)
	}
	return k, nil
}

// hostNet is the network of one host.
type hostNet struct {
	NS, Veth   string
	IPv4, IPv6 string // empty when the host has no address of that family
}

// createHostNet makes the host's namespace and veth, sets its sysctls (before
// anything can bind) and addresses, and plugs it into the bridge.
func createHostNet(spec HostSpec, n hostNet, bridge string, k int) error {
	if _, err := run("ip", "netns", "add", n.NS); err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	if _, err := run("ip", "link", "add", n.Veth, "type", "veth", "peer", "name", "eth0", "netns", n.NS); err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	sysctls := []string{"net.ipv6.bindv6only=" + b01(spec.BindV6Only)}
	switch {
	case spec.DisableIPv6:
		sysctls = append(sysctls, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
			"net.ipv6.conf.lo.disable_ipv6=1", "net.ipv6.conf.eth0.disable_ipv6=1")
	case !spec.IPv6:
		// No IPv6 on eth0, not even link-local; ::1 stays on lo.
		sysctls = append(sysctls, "net.ipv6.conf.eth0.disable_ipv6=1")
	default:
		// Nobody sends router advertisements, but make sure none is taken.
		sysctls = append(sysctls, "net.ipv6.conf.eth0.accept_ra=0")
	}
	args := append([]string{"netns", "exec", n.NS, "sysctl", "-q", "-w"}, sysctls...)
	if _, err := run("ip", args...); err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	var b strings.Builder
	b.WriteString("link set lo up\nlink set eth0 up\n")
	if n.IPv4 != "" {
		fmt.Fprintf(&b, "addr add %s/24 dev eth0\nroute add default via %s\n", n.IPv4, v4(k, 1))
	}
	if n.IPv6 != "" {
		fmt.Fprintf(&b, "addr add %s/64 dev eth0 nodad\nroute add default via %s\n", n.IPv6, v6(k, 1))
	}
	if _, err := runIn([]byte(b.String()), "ip", "-n", n.NS, "-batch", "-"); err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	if _, err := run("ip", "link", "set", n.Veth, "master", bridge, "up"); err != nil {
		return fmt.Errorf("host %s: %w", spec.Name, err)
	}
	return nil
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// deleteNetns kills whatever still runs in the namespace and deletes it (its
// veth goes with it). A namespace that is gone is not an error.
func deleteNetns(name string) error {
	errKill := killNetns(name)
	if _, err := os.Stat("/run/netns/" + name); errors.Is(err, os.ErrNotExist) {
		return errKill
	}
	_, errDel := run("ip", "netns", "delete", name)
	return errors.Join(errKill, errDel)
}

// deleteLink deletes an interface of the root namespace; a missing one is not
// an error.
func deleteLink(name string) error {
	if _, err := os.Stat("/sys/class/net/" + name); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	_, err := run("ip", "link", "del", name)
	if _, serr := os.Stat("/sys/class/net/" + name); errors.Is(serr, os.ErrNotExist) {
		return nil // a veth goes away with its peer's namespace, maybe just now
	}
	return err
}
