package diagnose

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/nginxconf"
)

const nginxDump = `# configuration file /etc/nginx/nginx.conf:
user www-data;
error_log /var/log/nginx/error.log;
http {
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/conf.d/upstream.conf:
upstream backend {
    server [::1]:8000 max_fails=3;
    server 127.0.0.1:8000 backup;   # the seed outage
    server 127.0.0.1:8002 down;
    keepalive 32;
    keepalive_timeout 75s;
}

# configuration file /etc/nginx/sites-enabled/api:
server {
    listen 443 ssl http2;
    listen [::]:80;
    server_name api.example.com "quoted name";
    error_log logs/api_error.log warn;
    location /api/ {
        proxy_pass http://backend/;
        proxy_set_header Host $host;
        set ${x} 'a;b';
    }
    location = /other {
        proxy_pass http://localhost:9000;
    }
    location ~ \.php$ { proxy_pass http://$upstream; }
}
`

func TestNginxProxy(t *testing.T) {
	cfg, err := nginxconf.ParseDump(nginxDump)
	if err != nil {
		t.Fatal(err)
	}
	p := nginxProxy(cfg, "/usr/share/nginx")
	if len(p.Upstreams) != 2 {
		t.Fatalf("upstreams %+v, want backend and localhost:9000", p.Upstreams)
	}
	u := p.Upstreams[0]
	want := []Server{
		{Addr: netip.MustParseAddrPort("[::1]:8000"), Raw: "[::1]:8000"},
		{Addr: netip.MustParseAddrPort("127.0.0.1:8000"), Backup: true, Raw: "127.0.0.1:8000"},
	}
	if u.Name != "backend" || len(u.Servers) != 2 || u.Servers[0] != want[0] || u.Servers[1] != want[1] {
		t.Errorf("backend servers %+v, want %+v", u.Servers, want)
	}
	if !u.Keepalive || u.KeepaliveTimeout != 75*time.Second || u.Path != "/api/" || u.Host != "api.example.com" {
		t.Errorf("backend %+v", u)
	}
	if u.Where != "/etc/nginx/conf.d/upstream.conf:1" {
		t.Errorf("where %q", u.Where)
	}
	if l := p.Upstreams[1]; l.Name != "localhost:9000" || len(l.Servers) != 2 || l.Path != "/other" {
		t.Errorf("localhost upstream %+v", l)
	}
	wantLogs := "/var/log/nginx/error.log /usr/share/nginx/logs/api_error.log"
	if got := strings.Join(p.ErrorLogs, " "); got != wantLogs {
		t.Errorf("error logs %q, want %q", got, wantLogs)
	}
	if len(p.Listeners) != 2 || !p.Listeners[0].TLS || p.Listeners[1].Addr != netip.MustParseAddrPort("[::]:80") {
		t.Errorf("listeners %+v", p.Listeners)
	}
}

func FuzzParseNginxDump(f *testing.F) {
	f.Add(nginxDump)
	f.Add("# configuration file /a:\nhttp { upstream u { server [::1]:1; } server { location / { proxy_pass http://u; } } }")
	f.Add("# configuration file /a:\n}}{{ ;; 'unterminated")
	f.Add("# configuration file /a:\ninclude /a;\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := nginxconf.ParseDump(s)
		if err != nil {
			return
		}
		p := nginxProxy(cfg, "/p")
		for _, u := range p.Upstreams {
			for _, s := range u.Servers {
				if !s.Addr.IsValid() {
					t.Fatalf("invalid server address from %q", s.Raw)
				}
			}
		}
	})
}

func TestParseProcNet(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0 100 0 0 10 0
   1: 0100007F:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0 100 0 0 10 0
   2: 0100007F:1F40 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 100 0 0 10 0
`
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1F42 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0 100 0 0 10 0
`
	got := append(parseProcNet([]byte(tcp)), parseProcNet([]byte(tcp6))...)
	want := []string{"0.0.0.0:8000/1111", "127.0.0.1:8001/2222", "[::]:8000/4444", "[::1]:8002/5555"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, s := range got {
		if g := s.Addr.String() + "/" + itoa(int(s.Inode)); g != want[i] {
			t.Errorf("socket %d: %s, want %s", i, g, want[i])
		}
	}
}

func TestParseSocketOwners(t *testing.T) {
	out := "/proc/12/fd:\nlrwx------ 1 root root 64 Jan 1 00:00 3 -> socket:[1111]\n/proc/34/fd:\nlrwx------ 1 root root 64 Jan 1 00:00 7 -> socket:[4444]\n"
	got := parseSocketOwners([]byte(out))
	if got[1111] != 12 || got[4444] != 34 || len(got) != 2 {
		t.Errorf("owners %v", got)
	}
	procs := parseProcessInfo([]byte("@@pid 34\nexe=/opt/venv/bin/python3.11\ncmd=/opt/venv/bin/python3 -m uvicorn app:app --host ::\ncgroup=0::/system.slice/mop-api.service\n@@pid 12\nexe=/usr/local/bin/api\ncmd=/usr/local/bin/api\ngo=1\ncgroup=\n"))
	if p := procs[34]; p == nil || p.Kind() != KindAsyncio || p.Unit != "mop-api.service" || p.Name() != "python3.11" {
		t.Errorf("pid 34: %+v", procs[34])
	}
	if p := procs[12]; p == nil || p.Kind() != KindGo || p.Unit != "" {
		t.Errorf("pid 12: %+v", procs[12])
	}
}

func TestParseSystemctlShow(t *testing.T) {
	out := "Id=mop-api.service\nLoadState=loaded\nActiveState=activating\nSubState=auto-restart\nNRestarts=7\nExecMainStatus=1\nExecStart={ path=/opt/mop/venv/bin/uvicorn ; argv[]=/opt/mop/venv/bin/uvicorn app.main:app ; ignore_errors=no }\n\nId=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\nExecMainStatus=0\nExecStart=\n"
	got := parseSystemctlShow(out)
	if len(got) != 2 {
		t.Fatalf("units %+v", got)
	}
	if u := got[0]; u.ID != "mop-api.service" || u.ActiveState != "activating" || u.NRestarts != 7 || u.ExecMainStatus != 1 || u.ExecStart != "/opt/mop/venv/bin/uvicorn" {
		t.Errorf("unit 0 %+v", u)
	}
	if got[1].LoadState != "not-found" {
		t.Errorf("unit 1 %+v", got[1])
	}
	j := &judgement{f: &facts{units: got}}
	j.systemdChecks()
	if len(j.checks) != 2 || j.checks[0].Status != StatusFail || j.checks[1].Status != StatusWarn {
		t.Errorf("checks %+v", j.checks)
	}
}

func TestSummarizeLog(t *testing.T) {
	log := `2024/05/01 09:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://[::1]:8000/", host: "x"
2024/05/01 10:00:00 [error] 1#1: *2 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://[::1]:8000/", host: "x"
2024/05/01 10:00:01 [error] 1#1: *3 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://[::1]:8000/", host: "x"
2024/05/01 10:00:02 [error] 1#1: *4 no live upstreams while connecting to upstream, client: 127.0.0.1, upstream: "http://backend/", host: "x"
2024/05/01 10:00:03 [warn] 1#1: something else
`
	s := &logSummary{}
	summarizeLog(s, log, time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC))
	if len(s.Counts) != 2 || s.Counts[0].Pattern.Key != "refused" || s.Counts[0].Count != 2 || s.Counts[1].Count != 1 {
		t.Fatalf("counts %+v", s.Counts)
	}
	if s.Counts[0].Upstream != "http://[::1]:8000/" || s.Counts[0].Last != "2024/05/01 10:00:01" {
		t.Errorf("last %+v", s.Counts[0])
	}
}

func TestParseFirewall(t *testing.T) {
	out := `@@nft
table ip6 filter {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport { 80, 8000 } counter packets 3 bytes 240 drop
	}
}
table inet f {
	chain c {
		ip saddr 198.18.0.0/15 tcp dport 8000-8010 reject
		tcp dport 9000 drop
	}
}
@@read
@@ip6tables
@@iptables
*filter
-A INPUT -p tcp -m tcp --dport 8000 -j DROP
-A INPUT -p tcp -m tcp --dport 8001 -j ACCEPT
COMMIT
@@read
`
	fw := parseFirewall(out, 8000)
	if !fw.Read || len(fw.drops("ipv6")) != 1 || len(fw.drops("ipv4")) != 2 {
		t.Errorf("rules %+v", fw.Rules)
	}
	if fw := parseFirewall(out, 9000); len(fw.drops("ipv4")) != 1 || len(fw.drops("ipv6")) != 1 {
		t.Errorf("inet rule for 9000: %+v", fw.Rules)
	}
	if fw := parseFirewall("@@nft\n@@ip6tables\n@@iptables\n", 8000); fw.Read {
		t.Error("nothing readable, but Read")
	}
}
