package netnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Options say how [New] sets up a namespace. The zero value gives a namespace with
// only lo, up, holding 127.0.0.1 and ::1.
type Options struct {
	// BindV6Only sets net.ipv6.bindv6only=1 in the namespace, so an IPv6 socket on
	// [::] that does not set IPV6_V6ONLY itself refuses IPv4. Go's own listeners set
	// it, so a scenario built on this needs a backend that sets nothing.
	BindV6Only bool
	// DisableIPv6 sets net.ipv6.conf.{all,default,lo}.disable_ipv6=1: the namespace
	// has no IPv6 at all, not even ::1. With Bridge it implies NoIPv6.
	DisableIPv6 bool
	// Bridge gives the namespace an eth0 on the test process's bridge with the next
	// free host number n: 198.18.0.n/24 and fd00:e:d9e::n/64 (see the package
	// documentation). Bridged namespaces reach each other and the bridge's
	// 198.18.0.1 and fd00:e:d9e::1; there is no default route.
	Bridge bool
	// NoIPv4 leaves eth0 without an IPv4 address: an IPv6-only host. Needs Bridge.
	NoIPv4 bool
	// NoIPv6 leaves eth0 without an IPv6 address (it keeps its link-local one): an
	// IPv4-only host. Needs Bridge.
	NoIPv6 bool
}

func (o Options) validate() error {
	if !o.Bridge && (o.NoIPv4 || o.NoIPv6) {
		return errors.New("NoIPv4 and NoIPv6 only apply with Bridge")
	}
	if o.Bridge && o.NoIPv4 && (o.NoIPv6 || o.DisableIPv6) {
		return errors.New("a bridged namespace needs an address: drop NoIPv4, or NoIPv6 and DisableIPv6")
	}
	return nil
}

// NS is a network namespace made by [New]. It is deleted when the test ends.
type NS struct {
	name string
	v4   netip.Addr
	v6   netip.Addr
	host int // host number on the bridge, 0 when not bridged

	mu   sync.Mutex
	cmds []*exec.Cmd // from Command, killed by close
}

// Name returns the namespace's name, as used by ip netns and found in /run/netns.
func (ns *NS) Name() string { return ns.name }

// IPv4 returns the namespace's address on the bridge, or the zero Addr when it is not
// bridged or has NoIPv4.
func (ns *NS) IPv4() netip.Addr { return ns.v4 }

// IPv6 returns the namespace's address on the bridge, or the zero Addr when it is not
// bridged or has no IPv6 address.
func (ns *NS) IPv6() netip.Addr { return ns.v6 }

// Command returns a command that runs name with args inside the namespace, through
// ip netns exec (which also mounts a /sys showing the namespace's interfaces).
// The command's Process is the ip process, which becomes name once it has entered
// the namespace. Processes still running in the namespace when the test ends are
// killed, and so is the command even if it has not entered the namespace yet.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
	ns.mu.Lock()
	ns.cmds = append(ns.cmds, cmd)
	ns.mu.Unlock()
	return cmd
}

// DialContext dials address from inside the namespace, as [net.Dialer.DialContext]
// would there; the connection stays in the namespace and can be used anywhere. The
// host in address must be an IP literal, because names would be resolved outside
// the namespace. Use it to plug a namespace into a client, for example as an
// http.Transport's DialContext.
func (ns *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", address, ns.name, err)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return nil, fmt.Errorf("dial %s from %s: host must be an IP address, names are resolved outside the namespace", address, ns.name)
	}
	var conn net.Conn
	err = ns.Do(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// Sysctl sets a kernel parameter inside the namespace, as sysctl -w key=value would:
// key is dotted ("net.ipv6.bindv6only") or a path below /proc/sys
// ("net/ipv6/conf/eth0.10/disable_ipv6"). Only per-namespace parameters (most of
// net.*) stay inside; others change the whole machine.
func (ns *NS) Sysctl(key, value string) error {
	path, err := sysctlPath(key)
	if err != nil {
		return err
	}
	err = ns.Do(func() error {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(value)
		return errors.Join(err, f.Close())
	})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns.name, err)
	}
	return nil
}

func sysctlPath(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("sysctl key %q: want a form like net.ipv6.bindv6only", key)
	}
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key), nil
}

var (
	probeOnce   sync.Once
	probeReason string // why namespaces cannot be made here; "" when they can

	leftoversOnce sync.Once
)

// Require skips the test, naming what is missing, unless this machine can make
// network namespaces: Linux, root, iproute2's ip in PATH, and a probe namespace that
// can be created, entered and deleted (this fails in unprivileged containers). The
// probe runs once per process. [New] calls Require itself.
func Require(t testing.TB) {
	t.Helper()
	if reason := unavailable(); reason != "" {
		t.Skip("netnstest: " + reason)
	}
}

func unavailable() string {
	if runtime.GOOS != "linux" {
		return "network namespaces need Linux, this is " + runtime.GOOS
	}
	if euid := os.Geteuid(); euid != 0 {
		return fmt.Sprintf("network namespaces need root, euid is %d (run the tests as root, as CI does)", euid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "iproute2's ip command is not in PATH (apt-get install iproute2)"
	}
	probeOnce.Do(func() { probeReason = probe() })
	return probeReason
}

// probe creates, enters and deletes a namespace to see whether this machine allows it.
func probe() string {
	name, err := newName(kindProbe)
	if err != nil {
		return err.Error()
	}
	if _, err := runIP("netns", "add", name); err != nil {
		return fmt.Sprintf("cannot create a network namespace (unprivileged container?): %v", err)
	}
	ns := &NS{name: name}
	var errs []error
	if _, err := runIP("-n", name, "link", "set", "lo", "up"); err != nil {
		errs = append(errs, err)
	}
	if out, err := ns.Command("true").CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns exec %s true: %w: %s", name, err, strings.TrimSpace(string(out))))
	}
	if err := ns.Do(func() error { return nil }); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNamespace(name); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Sprintf("network namespaces do not work here: %v", err)
	}
	return ""
}

// New creates a network namespace for the test, brings lo up and applies opts. It
// skips the test when namespaces are unavailable (see [Require]) and fails it when
// setting one up goes wrong. At the end of the test every process left in the
// namespace is killed and the namespace is deleted. New is safe to call from
// parallel tests.
func New(t testing.TB, opts Options) *NS {
	t.Helper()
	Require(t)
	leftoversOnce.Do(func() {
		if err := CleanupLeftovers(); err != nil {
			t.Logf("netnstest: cleaning up after earlier runs: %v", err)
		}
	})
	if err := opts.validate(); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	name, err := newName(kindNS)
	if err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	if _, err := runIP("netns", "add", name); err != nil {
		t.Fatalf("netnstest: %v", err)
	}
	ns := &NS{name: name}
	t.Cleanup(func() {
		if err := ns.close(); err != nil {
			t.Errorf("netnstest: remove namespace %s: %v", name, err)
		}
	})
	if err := ns.setup(opts); err != nil {
		t.Fatalf("netnstest: set up namespace %s: %v", name, err)
	}
	return ns
}

func (ns *NS) setup(opts Options) error {
	if opts.DisableIPv6 {
		// Before lo goes up, so ::1 is never added; default covers a later eth0.
		for _, dev := range []string{"all", "default", "lo"} {
			if err := ns.Sysctl("net.ipv6.conf."+dev+".disable_ipv6", "1"); err != nil {
				return err
			}
		}
	}
	if opts.BindV6Only {
		if err := ns.Sysctl("net.ipv6.bindv6only", "1"); err != nil {
			return err
		}
	}
	if _, err := runIP("-n", ns.name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if opts.Bridge {
		return ns.attach(!opts.NoIPv4, !opts.NoIPv6 && !opts.DisableIPv6)
	}
	return nil
}

// close kills the namespace's processes, deletes it and gives its host number back.
func (ns *NS) close() error {
	// ip netns pids cannot see a command that is still on its way in, so kill the
	// ones we started directly. Process.Kill is safe after Wait and pid reuse.
	ns.mu.Lock()
	for _, cmd := range ns.cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
	ns.cmds = nil
	ns.mu.Unlock()
	err := deleteNamespace(ns.name)
	if ns.host != 0 {
		err = errors.Join(err, releaseHost(ns.host))
		ns.host = 0
	}
	return err
}
