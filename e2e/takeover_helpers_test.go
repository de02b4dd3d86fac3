package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgectl/edgectl/internal/testbed"
)

// takeoverDomain is the name nginx serves and the certificate is for.
const takeoverDomain = "api.example.test"

// oldInstall is what the old install.sh left on a VPS: the API backend as
// a unit on [::]:8000, nginx (the host's Debian binary, bound read-only
// into the VPS) on 80 and 443 in front of it with upstream [::1] primary
// and 127.0.0.1 backup, and acme.sh's certificate in ~/.acme.sh/<domain>_ecc/.
func oldInstall(certPEM, keyPEM string) string {
	d := takeoverDomain
	return `set -e
cat > /etc/systemd/system/api.service <<'EOF'
[Unit]
Description=API backend (install.sh)
After=network.target
[Service]
ExecStart=/opt/sample/sampleapp -listen [::]:8000
Restart=always
[Install]
WantedBy=multi-user.target
EOF
mkdir -p /etc/nginx/conf.d /var/log/nginx /var/lib/nginx /root/.acme.sh/` + d + `_ecc
cat > /root/.acme.sh/` + d + `_ecc/fullchain.cer <<'EOF'
` + certPEM + `EOF
cat > /root/.acme.sh/` + d + `_ecc/` + d + `.key <<'EOF'
` + keyPEM + `EOF
chmod 600 /root/.acme.sh/` + d + `_ecc/` + d + `.key
cat > /etc/nginx/nginx.conf <<'EOF'
user www-data;
worker_processes 2;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
EOF
cat > /etc/nginx/conf.d/api.conf <<'EOF'
upstream backend_api {
    server [::1]:8000;
    server 127.0.0.1:8000 backup;
    keepalive 32;
}
server {
    listen 80;
    listen [::]:80;
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name ` + d + `;
    ssl_certificate /root/.acme.sh/` + d + `_ecc/fullchain.cer;
    ssl_certificate_key /root/.acme.sh/` + d + `_ecc/` + d + `.key;
    location / {
        proxy_pass http://backend_api;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
    }
}
EOF
cat > /etc/systemd/system/nginx.service <<'EOF'
[Unit]
Description=A high performance web server and a reverse proxy server
After=network.target api.service
[Service]
Type=forking
PIDFile=/run/nginx.pid
ExecStartPre=/usr/sbin/nginx -t -q -g 'daemon on; master_process on;'
ExecStart=/usr/sbin/nginx -g 'daemon on; master_process on;'
ExecReload=/usr/sbin/nginx -g 'daemon on; master_process on;' -s reload
ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile /run/nginx.pid
TimeoutStopSec=5
KillMode=mixed
[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable --now --quiet api.service
for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:8000/health && break; sleep 0.1; done
systemctl enable --now --quiet nginx.service
`
}

// testCert is a self-signed ECDSA certificate for takeoverDomain, as PEM.
func testCert(t *testing.T) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: takeoverDomain},
		DNSNames: []string{takeoverDomain}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), cert
}

// servedSerial is the serial of the certificate served on addr (host:port)
// for takeoverDomain, verified against root.
func servedSerial(addr string, root *x509.Certificate) (string, error) {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	d := &net.Dialer{Timeout: 3 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: takeoverDomain, RootCAs: pool})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// get is one GET of url with a 3 s timeout: the status, the Server header
// and the body.
func get(url string) (int, string, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header.Get("Server"), string(body), nil
}

// hostAddrs are the host's public addresses on port, one per family.
func hostAddrs(h *testbed.Host, port string) []string {
	var out []string
	for _, a := range []string{h.IPv4, h.IPv6} {
		if a != "" {
			out = append(out, net.JoinHostPort(a, port))
		}
	}
	return out
}

// units returns `systemctl is-active` and `is-enabled` of unit on host.
func unitStates(t *testing.T, b *testbed.Bed, host, unit string) (active, enabled string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := b.Run(ctx, host, "systemctl is-active "+unit+"; systemctl is-enabled "+unit+" 2>/dev/null || true")
	f := strings.Fields(string(out))
	for len(f) < 2 {
		f = append(f, "")
	}
	return f[0], f[1]
}

// keepaliveLoad is a pool of workers, each with its own keepalive
// connection, sending GETs until stopped, recording every failure with
// its time: refused connections apart from the rest.
type keepaliveLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	ok       int
	failures []loadFailure
}

type loadFailure struct {
	at      time.Time
	refused bool
	what    string
}

func startKeepaliveLoad(addrs []string, workers int) *keepaliveLoad {
	l := &keepaliveLoad{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true,
				DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext}
			defer tr.CloseIdleConnections()
			c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
			addr := addrs[w%len(addrs)]
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				what := ""
				if err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "ok from") {
						what = fmt.Sprintf("HTTP %d", resp.StatusCode)
					}
				} else {
					what = err.Error()
				}
				l.mu.Lock()
				if what == "" {
					l.ok++
				} else {
					l.failures = append(l.failures, loadFailure{at: time.Now(), refused: errors.Is(err, syscall.ECONNREFUSED), what: addr + ": " + what})
				}
				l.mu.Unlock()
				if what != "" {
					time.Sleep(5 * time.Millisecond) // a refused port answers at once: do not spin
				}
			}
		}()
	}
	return l
}

// loadReport is what the pool saw.
type loadReport struct {
	ok, refused, other int
	// window is the time from the first failure to the last, refusedWindow
	// the same for refused connections only (0: none).
	window, refusedWindow time.Duration
	sample                []string
}

func (l *keepaliveLoad) finish() loadReport {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := loadReport{ok: l.ok}
	sort.Slice(l.failures, func(i, j int) bool { return l.failures[i].at.Before(l.failures[j].at) })
	seen := map[string]bool{}
	var firstRefused time.Time
	for _, f := range l.failures {
		if f.refused {
			if firstRefused.IsZero() {
				firstRefused = f.at
			}
			r.refusedWindow = f.at.Sub(firstRefused)
			r.refused++
		} else {
			r.other++
		}
		if !seen[f.what] && len(r.sample) < 5 {
			seen[f.what] = true
			r.sample = append(r.sample, f.what)
		}
	}
	if n := len(l.failures); n > 0 {
		r.window = l.failures[n-1].at.Sub(l.failures[0].at)
	}
	return r
}
