package remote_test

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/internal/netnstest"
	"github.com/edgectl/edgectl/internal/sshtest"
)

// TestNetns runs sshd inside a bridged namespace (198.18.0.n and
// fd00:e:d9e::n) and logs in from another one: commands run inside the
// server's namespace, and DialContext reaches a listener that exists only
// on that namespace's [::1].
func TestNetns(t *testing.T) {
	t.Parallel()
	vps := netnstest.New(t, netnstest.Options{Bridge: true})
	client := netnstest.New(t, netnstest.Options{Bridge: true})
	srv := sshtest.Start(t, sshtest.Options{Netns: vps})
	if want := net.JoinHostPort(vps.IPv4().String(), "22"); srv.Addr != want || len(srv.Addrs) != 2 {
		t.Fatalf("addresses %v, want %s and the IPv6 one", srv.Addrs, want)
	}

	var ln net.Listener
	if err := vps.Do(func() (err error) {
		ln, err = net.Listen("tcp6", "[::1]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "inside")
			c.Close()
		}
	}()
	// Not reachable from the test's own namespace.
	if c, err := net.Dial("tcp6", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatalf("%s answers outside the namespace; the test proves nothing", ln.Addr())
	}

	for _, addr := range srv.Addrs {
		t.Run(addr, func(t *testing.T) {
			cfg := srv.Config("vps")
			cfg.Addr, cfg.DialContext = addr, client.DialContext
			h := dial(t, cfg)
			res, err := h.Run(t.Context(), "ip -o addr show dev eth0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if out := string(res.Stdout); !strings.Contains(out, " "+vps.IPv4().String()+"/") || !strings.Contains(out, " "+vps.IPv6().String()+"/") {
				t.Errorf("eth0 on the host:\n%s\nwant %s and %s", out, vps.IPv4(), vps.IPv6())
			}
			c, err := h.DialContext(t.Context(), "tcp6", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil || string(got) != "inside" {
				t.Errorf("read %q, %v; want inside", got, err)
			}
		})
	}
}
