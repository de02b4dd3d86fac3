package testbed

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
)

// TestDefault3 boots the standard fleet and checks what e2e tests rely on.
func TestDefault3(t *testing.T) {
	b := StartT(t, Options{Hosts: Default3()})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run := func(t *testing.T, host, cmd string) string {
		t.Helper()
		out, err := b.Run(ctx, host, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	t.Run("systemd is PID 1 and the hostname is the host's", func(t *testing.T) {
		for _, h := range b.Hosts {
			if got := run(t, h.Name, "cat /proc/1/comm"); got != "systemd" {
				t.Errorf("%s: PID 1 is %q, want systemd", h.Name, got)
			}
			if got := run(t, h.Name, "hostname"); got != h.Name {
				t.Errorf("%s: hostname is %q", h.Name, got)
			}
		}
	})

	t.Run("families", func(t *testing.T) {
		tests := []struct {
			host           string
			wantV4, wantV6 bool
			wantBindV6Only string
		}{
			{"vps1", true, true, "0"},
			{"vps2", false, true, "0"},
			{"vps3", true, false, "1"},
		}
		for _, tt := range tests {
			h := b.Host(tt.host)
			v4 := run(t, tt.host, "ip -4 -o addr show dev eth0")
			v6 := run(t, tt.host, "ip -6 -o addr show dev eth0")
			if got := h.IPv4 != "" && strings.Contains(v4, " "+h.IPv4+"/24 "); got != tt.wantV4 || (!tt.wantV4 && v4 != "") {
				t.Errorf("%s: IPv4 on eth0 = %q, want IPv4 %v", tt.host, v4, tt.wantV4)
			}
			if got := h.IPv6 != "" && strings.Contains(v6, " "+h.IPv6+"/64 "); got != tt.wantV6 || (!tt.wantV6 && v6 != "") {
				t.Errorf("%s: IPv6 on eth0 = %q, want IPv6 %v", tt.host, v6, tt.wantV6)
			}
			if got := run(t, tt.host, "cat /proc/sys/net/ipv6/bindv6only"); got != tt.wantBindV6Only {
				t.Errorf("%s: bindv6only = %s, want %s", tt.host, got, tt.wantBindV6Only)
			}
		}
	})

	t.Run("SSH on every address of every host, strict host keys", func(t *testing.T) {
		for _, h := range b.Hosts {
			for _, addr := range []string{h.IPv4, h.IPv6} {
				if addr == "" {
					continue
				}
				args, err := b.SSHArgs(h.Name)
				if err != nil {
					t.Fatal(err)
				}
				args[len(args)-1] = addr
				out, err := execOutput(ctx, append(args, "hostname")...)
				if err != nil || strings.TrimSpace(out) != h.Name {
					t.Errorf("ssh root@%s: %q, %v", addr, out, err)
				}
			}
		}
	})

	t.Run("fleet.yaml drives remote.DialSSH to every host", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fleet.yaml")
		if err := os.WriteFile(path, b.FleetYAML(""), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := fleet.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, fh := range f.Hosts {
			cfg := provision.SSHConfigFor(f, fh)
			cfg.Agent = ""
			c, err := remote.DialSSH(ctx, cfg)
			if err != nil {
				t.Errorf("%s: %v", fh.Name, err)
				continue
			}
			res, err := c.Run(ctx, "hostname", nil)
			if err != nil || strings.TrimSpace(string(res.Stdout)) != fh.Name {
				t.Errorf("%s: hostname over remote.SSH = %q, %v", fh.Name, res.Stdout, err)
			}
			_ = c.Close()
		}
	})

	t.Run("host keys differ and are the ones served", func(t *testing.T) {
		seen := map[string]string{}
		for _, h := range b.Hosts {
			if other, dup := seen[h.HostKeyFingerprint]; dup {
				t.Errorf("%s and %s share host key %s", h.Name, other, h.HostKeyFingerprint)
			}
			seen[h.HostKeyFingerprint] = h.Name
			got := run(t, h.Name, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub")
			if !strings.Contains(got, h.HostKeyFingerprint) {
				t.Errorf("%s serves %q, want %s", h.Name, got, h.HostKeyFingerprint)
			}
		}
		// A known_hosts that names another host's key must make ssh refuse.
		wrong := filepath.Join(t.TempDir(), "known_hosts")
		kh, _ := os.ReadFile(b.KnownHostsFile)
		swapped := strings.ReplaceAll(string(kh), b.Host("vps1").IPv4+" ", "x ")
		swapped = strings.ReplaceAll(swapped, b.Host("vps3").IPv4+" ", b.Host("vps1").IPv4+" ")
		if err := os.WriteFile(wrong, []byte(swapped), 0o600); err != nil {
			t.Fatal(err)
		}
		args, _ := b.SSHArgs("vps1")
		for i, a := range args {
			if strings.HasPrefix(a, "UserKnownHostsFile=") {
				args[i] = "UserKnownHostsFile=" + wrong
			}
		}
		if out, err := execOutput(ctx, append(args, "true")...); err == nil {
			t.Errorf("ssh to vps1 with vps3's key in known_hosts succeeded: %s", out)
		}
	})

	t.Run("Stop powers off, Start boots with the disk kept", func(t *testing.T) {
		run(t, "vps3", "echo kept > /root/marker && sync")
		if err := b.Stop("vps3"); err != nil {
			t.Fatal(err)
		}
		h := b.Host("vps3")
		if c, err := net.DialTimeout("tcp", h.SSHAddr, 2*time.Second); err == nil {
			_ = c.Close()
			t.Fatalf("vps3 still answers on %s after Stop", h.SSHAddr)
		}
		if _, err := b.Run(ctx, "vps3", "true"); err == nil {
			t.Fatal("Run on a stopped host succeeded")
		}
		if err := b.Start(ctx, "vps3"); err != nil {
			t.Fatal(err)
		}
		if got := run(t, "vps3", "cat /root/marker"); got != "kept" {
			t.Errorf("marker after power cycle = %q, want kept", got)
		}
		if got := run(t, "vps3", "cat /proc/sys/net/ipv6/bindv6only"); got != "1" {
			t.Errorf("bindv6only after power cycle = %s", got)
		}
	})

	t.Run("Close leaves nothing behind", func(t *testing.T) {
		var pids []int
		for _, h := range b.Hosts {
			pids = append(pids, h.st.PID)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		assertGone(t, b.st.Prefix, b.Dir, pids)
	})
}

// assertGone checks that no namespace, interface, mount, process or run
// directory of the run with prefix is left.
func assertGone(t *testing.T, prefix, dir string, pids []int) {
	t.Helper()
	for _, d := range []string{"/run/netns", "/sys/class/net"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) {
				t.Errorf("%s/%s left behind", d, e.Name())
			}
		}
	}
	mps, _ := mountPoints()
	for _, m := range mps {
		if strings.Contains(m, prefix) || strings.HasPrefix(m, dir) {
			t.Errorf("mount %s left behind", m)
		}
	}
	for _, pid := range pids {
		if pidAlive(pid) {
			t.Errorf("systemd-nspawn %d still running", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("run dir %s left behind (%v)", dir, err)
	}
}
