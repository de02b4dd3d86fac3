package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/internal/sshtest"
)

// runEdgectlArgs runs edgectl args in-process and returns the exit code, stdout
// and stderr.
func runEdgectlArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errb := TestIO()
	f := &Factory{Version: "test", IO: ios}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	code := Run(ctx, f, args)
	return code, out.String(), errb.String()
}

// nginxSite writes a scratch nginx configuration whose http block holds
// site, and returns the flags that make nginx -T read it.
func nginxSite(t *testing.T, site string) []string {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err != nil {
			t.Skip("nginx is not installed (apt-get install nginx)")
		}
	}
	dir := t.TempDir()
	conf := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp {\n    access_log off;\n" + site + "\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"--nginx-conf", filepath.Join(dir, "nginx.conf"), "--nginx-prefix", dir + "/"}
}

const seedSite = `
    upstream backend_api {
        server [::1]:8000;
        server 127.0.0.1:8000 backup;
        keepalive 32;
    }
    server {
        listen 80;
        listen [::]:80;
        location / {
            proxy_pass http://backend_api;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }`

func TestImportNginx(t *testing.T) {
	nginx := nginxSite(t, seedSite)
	out := filepath.Join(t.TempDir(), "agent.yaml")
	code, stdout, stderr := runEdgectlArgs(t, append([]string{"import", "nginx", "-o", out}, nginx...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote "+out+" from nginx -T on localhost\neverything was translated\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := agentconfig.Parse(out, data)
	if err != nil {
		t.Fatalf("the written agent.yaml: %v\n%s", err, data)
	}
	u := cfg.Upstreams["backend_api"]
	if u == nil || len(u.Servers) != 2 || u.Servers[0].Addr != "[::1]:8000" || !u.Servers[1].Backup || *u.Keepalive != 32 ||
		len(cfg.Routes) != 1 || cfg.Routes[0].Upstream != "backend_api" || cfg.Listen[0].Addr != "[::]:80" {
		t.Errorf("translated config %+v\n%s", cfg, data)
	}

	// Without -o agent.yaml is the output; -o json still means JSON.
	code, stdout, stderr = runEdgectlArgs(t, append([]string{"import", "nginx"}, nginx...)...)
	if code != 0 || string(data) != stdout || !strings.Contains(stderr, "0 important, 0 cosmetic not translated") {
		t.Errorf("without -o: exit %d, stdout differs from the file: %v\n%s", code, string(data) != stdout, stderr)
	}
	code, stdout, _ = runEdgectlArgs(t, append([]string{"import", "nginx", "-o", "json"}, nginx...)...)
	var rep struct {
		Important    int    `json:"important"`
		AgentYAML    string `json:"agent_yaml"`
		Untranslated []any  `json:"untranslated"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != 0 || rep.AgentYAML != string(data) || rep.Untranslated == nil {
		t.Errorf("-o json: exit %d, %v\n%s", code, err, stdout)
	}
}

func TestImportNginxImportantExit1(t *testing.T) {
	nginx := nginxSite(t, `
    limit_req_zone $binary_remote_addr zone=api:10m rate=10r/s;
    server {
        listen 80;
        server_name legacy.example.com;
        rewrite ^/old/(.*)$ /new/$1 permanent;
        location /api/ {
            limit_req zone=api burst=5;
            proxy_pass http://127.0.0.1:8080/v2/;
        }
    }`)
	out := filepath.Join(t.TempDir(), "agent.yaml")
	code, stdout, stderr := runEdgectlArgs(t, append([]string{"import", "nginx", "--json", "-o", out}, nginx...)...)
	if code != ExitProblem || !strings.Contains(stderr, "3 important nginx directive(s) were not translated") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var rep struct {
		Output       string `json:"output"`
		Important    int    `json:"important"`
		Cosmetic     int    `json:"cosmetic"`
		AgentYAML    string `json:"agent_yaml"`
		Untranslated []struct {
			File, Directive, Importance string
			Line                        int
		} `json:"untranslated"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if rep.Output != out || rep.Important != 3 || rep.Cosmetic != 1 || rep.AgentYAML != "" || len(rep.Untranslated) != 4 {
		t.Errorf("report %+v", rep)
	}
	if it := rep.Untranslated[1]; it.Importance != "important" || it.Line != 11 || !strings.HasPrefix(it.Directive, "rewrite ^/old/") {
		t.Errorf("the rewrite: %+v", it)
	}
	// The file is written all the same, its header listing the same.
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), "# Not translated: 3 important, 1 cosmetic.") {
		t.Errorf("agent.yaml header:\n%s", data)
	}
}

func TestImportNginxUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--host", "vps1"}, "-f fleet.yaml"},
		{[]string{"--ssh", "root@198.18.0.11", "--host", "a", "-f", "x"}, "pass one"},
		{[]string{"--ssh", "198.18.0.11"}, "user@host"},
	} {
		code, _, stderr := runEdgectlArgs(t, append([]string{"import", "nginx"}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %s", tc.args, code, stderr)
		}
	}
	if code, _, stderr := runEdgectlArgs(t, "sweep", "-o", "agent.yaml", "x.yaml"); code != ExitUsage || !strings.Contains(stderr, "--output must be text or json") {
		t.Errorf("-o FILE on another command: exit %d, %s", code, stderr)
	}
}

// TestImportNginxOverSSH reads nginx through a real sshd (--ssh) and gets
// what the local run gets.
func TestImportNginxOverSSH(t *testing.T) {
	nginx := nginxSite(t, seedSite)
	srv := sshtest.Start(t, sshtest.Options{})
	local := filepath.Join(t.TempDir(), "local.yaml")
	remote := filepath.Join(t.TempDir(), "remote.yaml")
	if code, _, stderr := runEdgectlArgs(t, append([]string{"import", "nginx", "-o", local}, nginx...)...); code != 0 {
		t.Fatalf("local: exit %d: %s", code, stderr)
	}
	args := append([]string{"import", "nginx", "-o", remote, "--ssh", srv.User + "@" + srv.Addr,
		"--identity", srv.IdentityFile, "--known-hosts", srv.KnownHostsFile}, nginx...)
	code, stdout, stderr := runEdgectlArgs(t, args...)
	if code != 0 {
		t.Fatalf("over SSH: exit %d\n%s%s\n%s", code, stdout, stderr, srv.Log())
	}
	a, _ := os.ReadFile(local)
	b, _ := os.ReadFile(remote)
	host := strings.Trim(srv.Addr[:strings.LastIndexByte(srv.Addr, ':')], "[]")
	if want := strings.Replace(string(a), "nginx -T on localhost", "nginx -T on "+host, 1); string(b) != want {
		t.Errorf("over SSH:\n%s\nlocally:\n%s", b, a)
	}
}
