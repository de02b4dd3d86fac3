package netnstest

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// serveToken accepts connections on ln and writes a token to each, so a client can
// tell that it reached this very listener.
func serveToken(t *testing.T, ln net.Listener) string {
	t.Helper()
	token := rand.Text()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(token))
			c.Close()
		}
	}()
	return token
}

// readToken reads what serveToken wrote.
func readToken(t *testing.T, c net.Conn) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", c.RemoteAddr(), err)
	}
	return string(b)
}

// listenIn starts a token server in ns on address.
func listenIn(t *testing.T, ns *NS, address string) (addr, token string) {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", address)
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s in %s: %v", address, ns.Name(), err)
	}
	return ln.Addr().String(), serveToken(t, ln)
}

func namespaces(t *testing.T) []string {
	t.Helper()
	names, err := listNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// readIn reads a file inside ns through Command, independently of Do.
func readIn(t *testing.T, ns *NS, path string) string {
	t.Helper()
	out, err := ns.Command("cat", path).CombinedOutput()
	if err != nil {
		t.Fatalf("cat %s in %s: %v: %s", path, ns.Name(), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBindV6Only(t *testing.T) {
	const path = "/proc/sys/net/ipv6/bindv6only"
	hostBefore, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plain := New(t, Options{})
	ns := New(t, Options{BindV6Only: true})

	if got := readIn(t, ns, path); got != "1" {
		t.Errorf("bindv6only in namespace with BindV6Only = %q, want 1", got)
	}
	if got := readIn(t, plain, path); got != "0" {
		t.Errorf("bindv6only in namespace without BindV6Only = %q, want 0", got)
	}
	hostAfter, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(hostAfter) != string(hostBefore) {
		t.Errorf("host bindv6only changed from %q to %q", hostBefore, hostAfter)
	}
}

func TestSysctl(t *testing.T) {
	ns := New(t, Options{})
	if err := ns.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if got := readIn(t, ns, "/proc/sys/net/ipv4/ip_forward"); got != "1" {
		t.Errorf("ip_forward after Sysctl = %q, want 1", got)
	}
	err := ns.Sysctl("net.ipv4.no_such_key", "1")
	if err == nil || !strings.Contains(err.Error(), "net.ipv4.no_such_key") {
		t.Errorf("Sysctl of a missing key: error %v, want one naming the key", err)
	}
}

func TestDisableIPv6(t *testing.T) {
	ns := New(t, Options{DisableIPv6: true})

	// Control: the same listen works on the host, so a failure below is the namespace's.
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Logf("host cannot listen on [::1] either (%v); only checking the namespace", err)
	} else {
		ln.Close()
	}
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err == nil {
			ln.Close()
			return errors.New("listen on [::1]:0 succeeded")
		}
		ln4, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return ln4.Close()
	})
	if err != nil {
		t.Error(err)
	}
	out, err := ns.Command("ip", "-6", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -6 addr show: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("namespace with DisableIPv6 has IPv6 addresses:\n%s", s)
	}
}

func TestDoIsIsolatedFromHost(t *testing.T) {
	ns := New(t, Options{})
	addr, token := listenIn(t, ns, "127.0.0.1:0")

	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = net.Dial("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s inside %s: %v", addr, ns.Name(), err)
	}
	if got := readToken(t, conn); got != token {
		t.Errorf("inside: read %q, want the listener's token %q", got, token)
	}

	conn, err = ns.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("DialContext %s: %v", addr, err)
	}
	if got := readToken(t, conn); got != token {
		t.Errorf("DialContext: read %q, want the listener's token %q", got, token)
	}

	// The host has its own 127.0.0.1: the dial is refused, or reaches someone else.
	conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Logf("dial %s from the host: %v (as expected)", addr, err)
		return
	}
	conn.SetDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(conn)
	conn.Close()
	if string(b) == token {
		t.Errorf("dial %s from the host reached the listener inside %s", addr, ns.Name())
	}
}

func TestDialContextNeedsIP(t *testing.T) {
	ns := New(t, Options{})
	_, err := ns.DialContext(t.Context(), "tcp", "localhost:80")
	if err == nil || !strings.Contains(err.Error(), "IP address") {
		t.Errorf("DialContext with a name: error %v, want one asking for an IP address", err)
	}
}

func TestDoPanicAndThreadRestore(t *testing.T) {
	ns := New(t, Options{})
	hostNS, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := ns.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == hostNS {
		t.Errorf("Do ran in the host's namespace %s", hostNS)
	}

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the panic from fn", v)
			}
		}()
		ns.Do(func() error { panic("boom") })
	}()

	// Every thread must be back home: run many goroutines and check where they are.
	errc := make(chan error, 64)
	for range cap(errc) {
		go func() {
			got, err := os.Readlink("/proc/thread-self/ns/net")
			if err == nil && got != hostNS {
				err = errors.New("thread left in " + got)
			}
			errc <- err
		}()
	}
	for range cap(errc) {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

func TestBridge(t *testing.T) {
	a := New(t, Options{Bridge: true})
	b := New(t, Options{Bridge: true})
	v6only := New(t, Options{Bridge: true, NoIPv4: true})
	v4only := New(t, Options{Bridge: true, NoIPv6: true})

	v4net := netip.MustParsePrefix("198.18.0.0/24")
	v6net := netip.MustParsePrefix("fd00:e:d9e::/64")
	for _, ns := range []*NS{a, b} {
		if !v4net.Contains(ns.IPv4()) || !v6net.Contains(ns.IPv6()) {
			t.Fatalf("%s has addresses %v and %v, want them in %v and %v", ns.Name(), ns.IPv4(), ns.IPv6(), v4net, v6net)
		}
	}
	if a.IPv4() == b.IPv4() || a.IPv6() == b.IPv6() {
		t.Fatalf("two namespaces share addresses: %v %v", a.IPv4(), a.IPv6())
	}
	if v6only.IPv4().IsValid() || !v6only.IPv6().IsValid() {
		t.Errorf("NoIPv4 namespace has addresses %v and %v, want only IPv6", v6only.IPv4(), v6only.IPv6())
	}
	if !v4only.IPv4().IsValid() || v4only.IPv6().IsValid() {
		t.Errorf("NoIPv6 namespace has addresses %v and %v, want only IPv4", v4only.IPv4(), v4only.IPv6())
	}

	addr4, token4 := listenIn(t, a, netip.AddrPortFrom(a.IPv4(), 0).String())
	addr6, token6 := listenIn(t, a, netip.AddrPortFrom(a.IPv6(), 0).String())

	tests := []struct {
		name    string
		client  *NS
		addr    string
		token   string
		reaches bool
	}{
		{"IPv4", b, addr4, token4, true},
		{"IPv6", b, addr6, token6, true},
		{"IPv6-only client to IPv6", v6only, addr6, token6, true},
		{"IPv6-only client to IPv4", v6only, addr4, token4, false},
		{"IPv4-only client to IPv4", v4only, addr4, token4, true},
		{"IPv4-only client to IPv6", v4only, addr6, token6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			conn, err := tt.client.DialContext(ctx, "tcp", tt.addr)
			if !tt.reaches {
				if err == nil {
					conn.Close()
					t.Fatalf("%s reached %s, want no route", tt.client.Name(), tt.addr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s dial %s: %v", tt.client.Name(), tt.addr, err)
			}
			if got := readToken(t, conn); got != tt.token {
				t.Errorf("read %q, want %q", got, tt.token)
			}
		})
	}
}

func TestCleanup(t *testing.T) {
	Require(t)
	var name, hubName string
	var sleep *exec.Cmd
	t.Run("use", func(t *testing.T) {
		ns := New(t, Options{Bridge: true})
		name = ns.Name()
		hub.mu.Lock()
		hubName = hub.name
		hub.mu.Unlock()
		sleep = ns.Command("sleep", "600")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(namespaces(t), name) || !slices.Contains(namespaces(t), hubName) {
			t.Fatalf("ip netns list lacks %s or %s", name, hubName)
		}
	})
	if name == "" {
		return // the subtest failed
	}

	done := make(chan error, 1)
	go func() { done <- sleep.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("process started in the namespace exited cleanly, want it killed")
		}
	case <-time.After(5 * time.Second):
		sleep.Process.Kill()
		t.Error("process started in the namespace still runs after cleanup")
	}

	left := namespaces(t)
	if slices.Contains(left, name) {
		t.Errorf("namespace %s still listed after cleanup: %v", name, left)
	}
	hub.mu.Lock()
	users := hub.users
	hub.mu.Unlock()
	if users == 0 && slices.Contains(left, hubName) {
		t.Errorf("bridge namespace %s still listed after its last user: %v", hubName, left)
	}
}

func TestCleanupLeftovers(t *testing.T) {
	Require(t)
	// A pid that no longer exists: a process that has exited and been waited for.
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := exited.Process.Pid
	otherTag := "00"
	if procTag == otherTag {
		otherTag = "01"
	}
	// Parallel test processes must not make the same names: pids differ, and the
	// name of pid 1 carries this process's tag.
	deadRun := procPrefix(deadPid, procTag) + "n1"
	samePid := procPrefix(os.Getpid(), otherTag) + "h1"
	alive := procPrefix(1, procTag) + "n1"
	ours, err := newName(kindNS)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{deadRun, samePid, alive, ours} {
		if _, err := runIP("netns", "add", name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteNamespace(name) })
	}
	sleep := (&NS{name: deadRun}).Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill() })

	if err := CleanupLeftovers(); err != nil {
		t.Fatal(err)
	}
	left := namespaces(t)
	for _, name := range []string{deadRun, samePid} {
		if slices.Contains(left, name) {
			t.Errorf("leftover %s (dead owner) still listed: %v", name, left)
		}
	}
	for _, name := range []string{alive, ours} {
		if !slices.Contains(left, name) {
			t.Errorf("%s (live owner) was deleted", name)
		}
	}
	if err := sleep.Wait(); err == nil {
		t.Error("process in a leftover namespace exited cleanly, want it killed")
	} else {
		t.Logf("process in leftover %s: %v", deadRun, err)
	}
}
