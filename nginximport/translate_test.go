package nginximport

import (
	"strings"
	"testing"

	"github.com/edgectl/edgectl/nginxconf"
)

// translateHTTP translates one nginx.conf whose http block is body.
func translateHTTP(t *testing.T, body string) *Result {
	t.Helper()
	cfg, err := nginxconf.ParseDump("# configuration file /etc/nginx/nginx.conf:\nhttp {\n" + body + "\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Translate(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkAgentConfig(t, res.YAML)
	return res
}

// TestTranslate checks one behaviour a row: what agent.yaml gets (text
// that must be in it, header included, and text its keys must not have) and what is
// listed as not translated ("importance line: part of the reason").
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		yaml    []string
		notYAML []string
		dropped []string
	}{
		{
			name: "both families of a port are one dual-stack listener",
			body: "server { listen 80; listen [::]:80; location / { proxy_pass http://127.0.0.1:8000; } }",
			yaml: []string{"listen:", "  - addr: '[::]:80'", "routes:", "  - path: /", "    upstream: backend_8000"},
		},
		{
			name:    "IPv4-only nginx still gets a dual-stack agent, with a note",
			body:    "server { listen 8080; location / { proxy_pass http://[::1]:8000; } }",
			yaml:    []string{"  - addr: '[::]:8080'", "nginx listened on IPv4 only on port 8080"},
			notYAML: []string{"0.0.0.0"},
		},
		{
			name:    "a loopback-only server is not made public",
			body:    "server { listen 127.0.0.1:8081; listen localhost:8082; location /admin/ { proxy_pass http://127.0.0.1:9000; } } server { listen 80; location / { proxy_pass http://127.0.0.1:8000; } }",
			notYAML: []string{"/admin/", "8081", "8082", "backend_9000"},
			dropped: []string{"important 2: a server on loopback only"},
		},
		{
			name:    "proxy_pass with variables cannot be translated",
			body:    "server { listen 80; location / { proxy_pass http://$upstream_host; } }",
			notYAML: []string{"routes:"},
			dropped: []string{"important 2: built from variables"},
		},
		{
			name:    "an upstream of unix sockets only",
			body:    "upstream app { server unix:/run/app.sock; } server { listen 80; location / { proxy_pass http://app; } }",
			notYAML: []string{"routes:", "upstreams:"},
			dropped: []string{"important 2: a unix socket", "important 2: has no server the agent can dial"},
		},
		{
			name: "localhost is both loopbacks",
			body: "server { listen 80; location / { proxy_pass http://localhost:3000; } }",
			yaml: []string{"  backend_3000:", "      - addr: '[::1]:3000'", "      - addr: 127.0.0.1:3000"},
		},
		{
			name: "an upstream of backups only gets a primary",
			body: "upstream app { server 127.0.0.1:1 backup; server 127.0.0.1:2 backup; } server { listen 80; location / { proxy_pass http://app; } }",
			yaml: []string{"      - addr: 127.0.0.1:1\n      - addr: 127.0.0.1:2\n        backup: true", "every usable server was a backup"},
		},
		{
			name:    "nginx's default max_fails stays the agent's default",
			body:    "upstream app { server [::1]:8000; server 127.0.0.1:8000 backup; } server { listen 80; location / { proxy_pass http://app; } }",
			notYAML: []string{"max_fails", "fail_timeout"},
		},
		{
			name:    "one path routed to two upstreams on two ports",
			body:    "server { listen 80; location / { proxy_pass http://127.0.0.1:1; } } server { listen 8080; location / { proxy_pass http://127.0.0.1:2; } }",
			yaml:    []string{"upstream: backend_1"},
			notYAML: []string{"upstream: backend_2"},
			dropped: []string{"important 2: path / of any host is already routed to backend_1"},
		},
		{
			name:    "a regex server name",
			body:    "server { listen 80; server_name ~^(?<sub>.+)\\.example\\.com$ api.example.com; location / { proxy_pass http://127.0.0.1:1; } }",
			dropped: []string{"important 2: a regular-expression name"},
		},
		{
			name:    "a second site keeps its names; the default site answers any host",
			body:    "server { listen 80; server_name a.example.com; location / { proxy_pass http://127.0.0.1:1; } } server { listen 80; server_name .b.example.com; location / { proxy_pass http://127.0.0.1:2; } }",
			yaml:    []string{"  - host: b.example.com\n    path: /\n    upstream: backend_2", "  - host: '*.b.example.com'", "  - path: /\n    upstream: backend_1"},
			notYAML: []string{"host: a.example.com"},
		},
		{
			name:    "redirecting some names while serving others over HTTP keeps HTTP",
			body:    "server { listen 443 ssl; server_name a.example.com b.example.com; location / { proxy_pass http://127.0.0.1:1; } } server { listen 80; server_name a.example.com; return 301 https://$host$request_uri; } server { listen 80; server_name b.example.com; location / { proxy_pass http://127.0.0.1:1; } }",
			yaml:    []string{"tls:", "  redirect_http: false"},
			dropped: []string{"important 2: the agent redirects every plain-HTTP request or none"},
		},
		{
			name:    "a redirect without TLS in nginx",
			body:    "server { listen 80; return 301 https://$host$request_uri; }",
			notYAML: []string{"redirect_http"},
			dropped: []string{"important 2: nginx redirected to https but has no TLS listener"},
		},
		{
			name: "the scheme if of a server on both ports",
			body: "server { listen 80; listen 443 ssl; server_name a.example.com; if ($scheme != \"https\") { return 301 https://$host$request_uri; } location / { proxy_pass http://127.0.0.1:1; } }",
			yaml: []string{"  redirect_http: true"},
		},
		{
			name:    "a proxy_pass URI other than the location is a changed path",
			body:    "server { listen 80; location /api/ { proxy_pass http://127.0.0.1:8000/; } location /same/ { proxy_pass http://127.0.0.1:8000/same/; } }",
			yaml:    []string{"path: /api/", "path: /same/"},
			dropped: []string{"important 2: nginx replaced the location's /api/ with /"},
		},
		{
			name:    "custom and standard request headers",
			body:    "server { listen 80; location / { proxy_set_header Host $http_host; proxy_set_header X-Forwarded-Proto http; proxy_set_header X-Tenant acme; proxy_set_header Host backend.internal; proxy_pass http://127.0.0.1:1; } }",
			dropped: []string{"important 2: the backend no longer gets X-Tenant: acme", "important 2: the backend got Host: backend.internal"},
		},
		{
			name: "client limits and body size",
			body: "client_max_body_size 0; keepalive_timeout 65 20; client_header_timeout 15s; send_timeout 2m; server { listen 80; location / { proxy_pass http://127.0.0.1:1; } }",
			yaml: []string{"limits:", "  header_timeout: 15s", "  send_timeout: 2m", "  idle_timeout: 65s", "  max_body: 0"},
		},
		{
			name:    "an exact /health answered by nginx is the agent's own health path",
			body:    "server { listen 80; location = /health { return 200 'ok'; } location / { proxy_pass http://127.0.0.1:1; } }",
			dropped: []string{"cosmetic 2: the agent answers its health_path"},
		},
		{
			name: "https upstream with a name and a CA",
			body: "server { listen 80; location / { proxy_pass https://origin.example.net; proxy_ssl_name origin.example.net; proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/ssl/origin-ca.pem; } }",
			yaml: []string{"  origin_example_net_443:", "    scheme: https", "    server_name: origin.example.net", "    ca_file: /etc/ssl/origin-ca.pem", "      - addr: origin.example.net:443"},
		},
		{
			name: "a certificate set once in http serves every TLS server",
			body: "ssl_certificate /etc/ssl/all.pem; ssl_certificate_key /etc/ssl/all.key; server { listen 443 ssl; server_name a.example.com; location / { proxy_pass http://127.0.0.1:1; } }",
			yaml: []string{"the agent serves certificates from tls.certs_dir"},
		},
		{
			name: "a stream upstream named like an http one",
			body: "upstream app { server 127.0.0.1:1; } server { listen 80; location / { proxy_pass http://app; } } } stream { upstream app { server 127.0.0.1:7001; } server { listen 7000; proxy_pass app; }",
			yaml: []string{"  app: # /etc/nginx/nginx.conf:2\n    servers:\n      - addr: 127.0.0.1:1", "  app_2: # /etc/nginx/nginx.conf:2\n    servers:\n      - addr: 127.0.0.1:7001", "upstream: app_2"},
		},
		{
			name:    "a static site is important, nginx's welcome page is not",
			body:    "server { listen 80 default_server; server_name _; root /var/www/html; location / { try_files $uri =404; } } server { listen 80; server_name docs.example.com; root /srv/docs; }",
			dropped: []string{"cosmetic 2: nginx's default page", "important 2: serves files from /srv/docs"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := translateHTTP(t, tc.body)
			y := string(res.YAML)
			for _, w := range tc.yaml {
				if !strings.Contains(y, w) {
					t.Errorf("agent.yaml lacks %q:\n%s", w, y)
				}
			}
			body := y[strings.Index(y, "\n\n")+2:]
			for _, w := range tc.notYAML {
				if strings.Contains(body, w) {
					t.Errorf("agent.yaml has %q:\n%s", w, y)
				}
			}
			var got []string
			for _, it := range res.Untranslated {
				got = append(got, string(it.Importance)+" "+it.Where()+": "+it.Reason)
			}
			for _, w := range tc.dropped {
				head, part, _ := strings.Cut(w, ": ")
				imp, line, _ := strings.Cut(head, " ")
				found := false
				for _, it := range res.Untranslated {
					found = found || string(it.Importance) == imp && it.Where() == "/etc/nginx/nginx.conf:"+line && strings.Contains(it.Reason, part)
				}
				if !found {
					t.Errorf("nothing listed as %s; got:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestSeedsLoseNothingImportant: install.sh's node and a CN2 node with
// TLS and the WebSocket map translate with nothing important dropped,
// which is what lets import nginx exit 0 for them.
func TestSeedsLoseNothingImportant(t *testing.T) {
	for _, c := range []string{"installsh", "cn2-tls"} {
		res := translateCase(t, c)
		if n := res.Count(Important); n != 0 {
			t.Errorf("%s: %d important directives dropped: %+v", c, n, res.Untranslated)
		}
	}
	if res := translateCase(t, "rewrites"); res.Count(Important) == 0 {
		t.Error("rewrites: nothing important dropped")
	}
}
