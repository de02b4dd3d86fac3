package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRouting(t *testing.T) {
	names := map[string]*backend{}
	for _, n := range []string{"exact", "wild", "apiany", "any"} {
		name := n
		names[n] = startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	p := startProxy(t, fmt.Sprintf(`access_log: "off"
admin: ""
upstreams:
  exact: {servers: [{addr: %q}]}
  wild: {servers: [{addr: %q}]}
  apiany: {servers: [{addr: %q}]}
  any: {servers: [{addr: %q}]}
routes:
  - {host: "*.example.com", path: /, upstream: wild}
  - {path: /, upstream: any}
  - {path: /api/, upstream: apiany}
  - {host: api.example.com, path: /api/, upstream: exact}
  - {host: only.test, path: /v2/, upstream: exact}
`, names["exact"].addr, names["wild"].addr, names["apiany"].addr, names["any"].addr))
	c := client()
	for _, tc := range []struct {
		host, path string
		want       string
		status     int
	}{
		{"api.example.com", "/api/users", "exact", 200},
		{"API.Example.com:8443", "/api/users", "exact", 200},
		{"api.example.com", "/other", "wild", 200},
		{"x.example.com", "/api/users", "wild", 200},
		{"example.com", "/api/users", "apiany", 200},
		{"a.b.example.com", "/", "wild", 200},
		{"unknown.test", "/", "any", 200},
		{"[2001:db8::1]:80", "/api/x", "apiany", 200},
		{"only.test", "/v2/x", "exact", 200},
		{"only.test", "/v1/x", "any", 200},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", p.url(tc.path), nil)
			req.Host = tc.host
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(body) != tc.want {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.want)
			}
		})
	}
}

func TestNoRouteIs404(t *testing.T) {
	b := startBackend(t, "127.0.0.1:0", nil)
	p := startProxy(t, fmt.Sprintf(`access_log: "off"
admin: ""
upstreams: {a: {servers: [{addr: %q}]}}
routes: [{host: a.test, path: /, upstream: a}]
`, b.addr))
	if st, _ := get(t, client(), p.url("/")); st != 404 {
		t.Fatalf("status %d, want 404", st)
	}
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	echo := startBackend(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		w.Header().Set("Connection", "X-Resp-Secret")
		w.Header().Set("X-Resp-Secret", "leak")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-App", "yes")
		_ = json.NewEncoder(w).Encode(h)
	})
	p := startProxy(t, pool([]string{echo.addr}, ""))
	req, _ := http.NewRequest("GET", p.url("/h"), nil)
	req.Host = "api.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.7") // spoofed (no trusted_proxies): replaced
	req.Header.Set("X-Forwarded-Proto", "https")     // spoofed: replaced
	req.Header.Set("Connection", "X-Secret")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Keep", "kept")
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got http.Header
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Host":              "api.example.com",
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "api.example.com",
		"X-Real-Ip":         "127.0.0.1",
		"X-Keep":            "kept",
	} {
		if v := strings.Join(got[k], ","); v != want {
			t.Errorf("upstream saw %s=%q, want %q", k, v, want)
		}
	}
	for _, k := range []string{"X-Secret", "Proxy-Authorization", "Te"} {
		if v, ok := got[k]; ok {
			t.Errorf("hop-by-hop %s=%q reached the upstream", k, v)
		}
	}
	if resp.Header.Get("X-Resp-Secret") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", resp.Header)
	}
	if resp.Header.Get("X-App") != "yes" {
		t.Errorf("end-to-end response header lost: %v", resp.Header)
	}
}
