package proxy

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestHTTPSUpstream(t *testing.T) {
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls=%v sni=%s", r.TLS != nil, r.TLS.ServerName)
	}))
	origin.StartTLS()
	t.Cleanup(origin.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: origin.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := origin.Listener.Addr().String()
	for _, tc := range []struct {
		name, extra string
		status      int
		body        string
	}{
		{"server_name and ca_file", fmt.Sprintf("scheme: https\nserver_name: example.com\nca_file: %s", ca), 200, "tls=true sni=example.com"},
		{"address as the name", fmt.Sprintf("scheme: https\nca_file: %s", ca), 200, "tls=true sni="},
		{"untrusted origin", "scheme: https\nserver_name: example.com", 502, ""},
		{"wrong name", fmt.Sprintf("scheme: https\nserver_name: other.test\nca_file: %s", ca), 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, pool([]string{addr}, tc.extra))
			resp, err := client().Get(p.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}
