package provision

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/agentconfig"
)

// The samples under testdata/ss are real `ss -Hltnp` output: nginx with
// "listen 80; listen [::]:80; listen 127.0.0.1:8080; listen [::1]:8080;
// listen [::]:8443 ipv6only=off" and a Python server on [::]:9000
// (IPV6_V6ONLY on) and 127.0.0.1:9001, in a network namespace.
func readSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ss", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseSS(t *testing.T) {
	nginx := `users:(("nginx",pid=16565,fd=4),("nginx",pid=16564,fd=4),("nginx",pid=16559,fd=4))`
	tests := []struct {
		name string
		in   string
		want []ssListener
	}{
		{name: "ipv4 wildcard, lowest pid is the master",
			in:   "LISTEN 0      511      0.0.0.0:80   0.0.0.0:* " + nginx + "\n",
			want: []ssListener{{Addr: "0.0.0.0:80", Host: "0.0.0.0", Port: 80, Program: "nginx", PID: 16559}}},
		{name: "ipv6 wildcard",
			in:   "LISTEN 0      511         [::]:80      [::]:* " + nginx + "\n",
			want: []ssListener{{Addr: "[::]:80", Host: "::", Port: 80, Program: "nginx", PID: 16559}}},
		{name: "dual-stack star",
			in:   "LISTEN 0      511            *:8443       *:* " + nginx + "\n",
			want: []ssListener{{Addr: "*:8443", Host: "*", Port: 8443, Program: "nginx", PID: 16559}}},
		{name: "interface suffix",
			in:   "LISTEN 0      4096   127.0.0.53%lo:53        0.0.0.0:*    users:((\"systemd-resolve\",pid=301,fd=14))\n",
			want: []ssListener{{Addr: "127.0.0.53%lo:53", Host: "127.0.0.53", Port: 53, Program: "systemd-resolve", PID: 301}}},
		{name: "no process (another user's socket without root)",
			in:   "LISTEN 0      128    0.0.0.0:2024 0.0.0.0:*\n",
			want: []ssListener{{Addr: "0.0.0.0:2024", Host: "0.0.0.0", Port: 2024}}},
		{name: "program name with a space and a comma",
			in:   `LISTEN 0 128 [::1]:8000 [::]:* users:(("my app,x",pid=77,fd=3))` + "\n",
			want: []ssListener{{Addr: "[::1]:8000", Host: "::1", Port: 8000, Program: "my app,x", PID: 77}}},
		{name: "garbage and other states are skipped",
			in: "State Recv-Q Send-Q Local Peer\nESTAB 0 0 1.2.3.4:22 5.6.7.8:5555\nLISTEN 0 1 nonsense\nLISTEN 0 1 0.0.0.0:99999 0.0.0.0:*\n"},
		{name: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseSS(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseSS:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	ls := parseSS(readSample(t, "nginx_python.txt"))
	if len(ls) != 7 {
		t.Fatalf("the sample has 7 listeners, parsed %d: %+v", len(ls), ls)
	}
	agent := "LISTEN 0 4096 *:80 *:* users:((\"edgectl\",pid=900,fd=7))\n"
	tests := []struct {
		name  string
		ss    string
		binds []string
		want  []string // addr/family/program
	}{
		{name: "dual-stack agent on 80 meets both nginx sockets", binds: []string{"[::]:80"},
			want: []string{"0.0.0.0:80/ipv4/nginx", "[::]:80/ipv6/nginx"}},
		{name: "ipv4 wildcard meets only the ipv4 socket", binds: []string{"0.0.0.0:80"},
			want: []string{"0.0.0.0:80/ipv4/nginx"}},
		{name: "a star socket takes both families", binds: []string{"127.0.0.1:8443"},
			want: []string{"*:8443/ipv4+ipv6/nginx"}},
		{name: "loopback v6 meets [::1] and not 127.0.0.1", binds: []string{"[::1]:8080"},
			want: []string{"[::1]:8080/ipv6/nginx"}},
		{name: "another ipv4 address does not meet 127.0.0.1", binds: []string{"198.18.0.11:8080"}},
		{name: "streams count too", binds: []string{"[::]:9001"},
			want: []string{"127.0.0.1:9001/ipv4/python3"}},
		{name: "free port", binds: []string{"[::]:81"}},
		{name: "the agent itself is not a holder", ss: agent, binds: []string{"[::]:80"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := ls
			if tc.ss != "" {
				l = parseSS(tc.ss)
			}
			var got []string
			for _, h := range conflicts(l, tc.binds) {
				got = append(got, h.Addr+"/"+h.Family+"/"+h.Program)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("conflicts(%v) = %v, want %v", tc.binds, got, tc.want)
			}
		})
	}
}

func TestUnitFromCgroup(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"cgroup v2", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"v2 with a sub-cgroup", "0::/system.slice/caddy.service/payload\n", "caddy.service"},
		{"v1 name=systemd", "12:pids:/system.slice/haproxy.service\n1:name=systemd:/system.slice/haproxy.service\n", "haproxy.service"},
		{"a login session", "0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"container root", "0::/\n", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := unitFromCgroup(tc.in); got != tc.want {
				t.Errorf("unitFromCgroup(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNeededBinds(t *testing.T) {
	cfg := &agentconfig.Config{Listen: []agentconfig.Listener{{Addr: "[::]:80"}, {Addr: "[::]:443", TLS: true}},
		Streams: []agentconfig.Stream{{Listen: "127.0.0.1:7000"}}}
	if got, want := NeededBinds(cfg), []string{"[::]:80", "[::]:443", "127.0.0.1:7000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("NeededBinds = %v, want %v", got, want)
	}
}

// FuzzParseSS: any output parses without panicking, and every listener it
// returns has a port in range and a host without brackets.
func FuzzParseSS(f *testing.F) {
	f.Add(readSample(f, "nginx_python.txt"))
	f.Add("LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:((\"systemd-resolve\",pid=301,fd=14))\n")
	f.Add("LISTEN 0 1 [::]:80 [::]:* users:((\"a\",pid=,fd=1),(\"\",pid=-3)\n")
	f.Fuzz(func(t *testing.T, out string) {
		for _, l := range parseSS(out) {
			if l.Port < 1 || l.Port > 65535 || strings.ContainsAny(l.Host, "[]%") || l.PID < 0 {
				t.Fatalf("bad listener %+v from %q", l, out)
			}
			_ = conflicts([]ssListener{l}, []string{"[::]:80", "127.0.0.1:80", "[::1]:80"})
		}
	})
}
