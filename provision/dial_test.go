package provision_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/internal/sshtest"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
)

func parseFleet(t *testing.T, yaml string) *fleet.Fleet {
	t.Helper()
	env := func(k string) (string, bool) {
		if k == "HOME" {
			return "/home/op", true
		}
		return "", false
	}
	f, err := fleet.Parse("fleet.yaml", []byte(yaml), env)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSSHConfigFor(t *testing.T) {
	agent := os.Getenv("SSH_AUTH_SOCK")
	tests := []struct {
		name string
		yaml string
		want remote.SSHConfig
	}{
		{"defaults, ipv4 first", "hosts: [{name: edge-1, ipv4: 192.0.2.7, ipv6: '2001:db8::7'}]\n",
			remote.SSHConfig{Name: "edge-1", Addr: "192.0.2.7:22", User: "root", IdentityFile: "/home/op/.ssh/id_ed25519", KnownHosts: "/home/op/.ssh/known_hosts", Agent: agent}},
		{"ipv6 only, own port", "ssh: {port: 2222, user: deploy, identity_file: '', known_hosts: /etc/kh}\nhosts: [{name: v6, ipv6: '2001:db8::7'}]\n",
			remote.SSHConfig{Name: "v6", Addr: "[2001:db8::7]:2222", User: "deploy", KnownHosts: "/etc/kh", Agent: agent}},
		{"ssh_address and jump without user or port", "ssh: {jump: '2001:db8::99'}\nhosts: [{name: b, ipv4: 192.0.2.7, ssh_address: 'edge-b.internal:2200'}]\n",
			remote.SSHConfig{Name: "b", Addr: "edge-b.internal:2200", User: "root", IdentityFile: "/home/op/.ssh/id_ed25519", KnownHosts: "/home/op/.ssh/known_hosts", Jump: "root@[2001:db8::99]:22", Agent: agent}},
		{"jump with user and port", "ssh: {jump: 'ops@[2001:db8::99]:2200'}\nhosts: [{name: c, ipv6: '2001:db8::7'}]\n",
			remote.SSHConfig{Name: "c", Addr: "[2001:db8::7]:22", User: "root", IdentityFile: "/home/op/.ssh/id_ed25519", KnownHosts: "/home/op/.ssh/known_hosts", Jump: "ops@[2001:db8::99]:2200", Agent: agent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFleet(t, tt.yaml)
			got := provision.SSHConfigFor(f, f.Hosts[0])
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("SSHConfigFor:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestSSHDialer dials the hosts of a fleet file pointing at a real sshd,
// one over each family.
func TestSSHDialer(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Options{})
	f := parseFleet(t, fmt.Sprintf(`ssh:
  port: %s
  identity_file: %s
  known_hosts: %s
  user: %s
hosts:
  - {name: edge-4, ipv4: 127.0.0.1}
  - {name: edge-6, ipv6: "::1"}
`, portOf(srv.Addr), srv.IdentityFile, srv.KnownHostsFile, srv.User))
	dial := provision.SSHDialer(f, nil)
	for _, h := range f.Hosts {
		host, err := dial(t.Context(), h)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		res, err := host.Run(t.Context(), "echo $SSH_CONNECTION", nil)
		host.Close()
		if err != nil || host.Name() != h.Name {
			t.Fatalf("%s: %v (name %q)", h.Name, err, host.Name())
		}
		// SSH_CONNECTION: client ip, client port, server ip, server port.
		if f := strings.Fields(string(res.Stdout)); len(f) != 4 || f[2] != map[string]string{"edge-4": "127.0.0.1", "edge-6": "::1"}[h.Name] {
			t.Errorf("%s: SSH_CONNECTION %q", h.Name, res.Stdout)
		}
	}
}

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
