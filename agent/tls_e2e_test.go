package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/endpoints"
)

// End-to-end tests of the agent's HTTPS side and of what it serves itself:
// SNI certificate selection and hot reload from certs_dir, HTTP/2, the
// HTTP→HTTPS redirect with ACME challenges, the endpoints list and L4
// streams. Same rules as e2e_test.go: the real binary, loopback only, no
// root. Certificates come from a throw-away CA made by each test.

// certPollBudget is how long a certificate change on disk may take to reach
// new handshakes: certs_dir is polled every second.
const certPollBudget = 2 * time.Second

// ---- a throw-away PKI -------------------------------------------------------

// tlsPKI is a root CA and an intermediate that signs the leaves, so that
// fullchain.pem carries a real chain: clients trust the root only.
type tlsPKI struct {
	interCert *x509.Certificate
	interKey  *ecdsa.PrivateKey
	interPEM  []byte
	pool      *x509.CertPool // trusts the root
}

// tlsLeaf is a server certificate and its key as the agent reads them.
type tlsLeaf struct {
	cert     *x509.Certificate
	chainPEM []byte // leaf, then the intermediate
	keyPEM   []byte
}

func newTLSPKI(t testing.TB) *tlsPKI {
	t.Helper()
	now := time.Now()
	rootKey := newECKey(t)
	rootTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "edgectl e2e root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	root := createCert(t, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	interKey := newECKey(t)
	interTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: "edgectl e2e intermediate"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	inter := createCert(t, interTmpl, root, &interKey.PublicKey, rootKey)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &tlsPKI{
		interCert: inter,
		interKey:  interKey,
		interPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}),
		pool:      pool,
	}
}

// leaf issues a certificate for dnsNames with a fresh key and serial.
func (p *tlsPKI) leaf(t testing.TB, dnsNames ...string) *tlsLeaf {
	t.Helper()
	key := newECKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert := createCert(t, tmpl, p.interCert, &key.PublicKey, p.interKey)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return &tlsLeaf{
		cert:     cert,
		chainPEM: append(chain, p.interPEM...),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}
}

func (l *tlsLeaf) serial() string { return l.cert.SerialNumber.Text(16) }

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func createCert(t testing.TB, tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// installCert makes certsDir/name appear at once with l's pair in it, the
// way a distributor does: the files are written into a dot directory (which
// the store ignores) that is then renamed into place.
func installCert(t testing.TB, certsDir, name string, l *tlsLeaf) {
	t.Helper()
	stage := filepath.Join(certsDir, ".stage-"+name)
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCertFile(t, filepath.Join(stage, "fullchain.pem"), l.chainPEM, 0o644)
	writeCertFile(t, filepath.Join(stage, "privkey.pem"), l.keyPEM, 0o600)
	if err := os.Rename(stage, filepath.Join(certsDir, name)); err != nil {
		t.Fatal(err)
	}
}

// replaceCert swaps the pair in the existing certsDir/name for l's, one
// file at a time, each written to a temporary file and renamed over the
// old one (what `edgectl cert` and most renewal hooks do). It returns when
// the last rename is done.
func replaceCert(t testing.TB, certsDir, name string, l *tlsLeaf) time.Time {
	t.Helper()
	tmp := filepath.Join(certsDir, ".tmp-"+name)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	writeCertFile(t, filepath.Join(tmp, "fullchain.pem"), l.chainPEM, 0o644)
	writeCertFile(t, filepath.Join(tmp, "privkey.pem"), l.keyPEM, 0o600)
	for _, f := range []string{"fullchain.pem", "privkey.pem"} {
		if err := os.Rename(filepath.Join(tmp, f), filepath.Join(certsDir, name, f)); err != nil {
			t.Fatal(err)
		}
	}
	return time.Now()
}

func writeCertFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

// rigReplaceFile writes content to path through a temporary file in
// the same directory and a rename.
func rigReplaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// ---- the backend ------------------------------------------------------------

// echoReply is what echoBackend answers: the request as the backend saw it.
type echoReply struct {
	Method  string `json:"method"`
	Target  string `json:"target"`
	Host    string `json:"host"`
	Proto   string `json:"proto"` // X-Forwarded-Proto
	For     string `json:"for"`   // X-Forwarded-For
	RealIP  string `json:"real_ip"`
	FwdHost string `json:"fwd_host"` // X-Forwarded-Host
	BodyLen int    `json:"body_len"`
	BodySum string `json:"body_sha256"`
}

// echoBackend answers /health with 200, /sse with a stream of flushed
// events, and anything else with an echoReply.
type echoBackend struct {
	sseEvents int
	sseGap    time.Duration

	mu   sync.Mutex
	sent []time.Time // when each /sse event was flushed, of the last stream
}

func (b *echoBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/health":
		_, _ = io.WriteString(w, "ok")
	case "/sse":
		b.serveSSE(w)
	default:
		body, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoReply{
			Method: r.Method, Target: r.RequestURI, Host: r.Host,
			Proto: r.Header.Get("X-Forwarded-Proto"), For: r.Header.Get("X-Forwarded-For"),
			RealIP: r.Header.Get("X-Real-IP"), FwdHost: r.Header.Get("X-Forwarded-Host"),
			BodyLen: len(body), BodySum: hex.EncodeToString(sum[:]),
		})
	}
}

func (b *echoBackend) serveSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	f := w.(http.Flusher)
	f.Flush()
	b.mu.Lock()
	b.sent = nil
	b.mu.Unlock()
	for i := range b.sseEvents {
		if i > 0 {
			time.Sleep(b.sseGap)
		}
		fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		f.Flush()
		b.mu.Lock()
		b.sent = append(b.sent, time.Now())
		b.mu.Unlock()
	}
}

func (b *echoBackend) sentTimes() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.sent...)
}

// rigServe serves h on a fresh 127.0.0.1 port until the test ends.
func rigServe(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// ---- the agent under test ---------------------------------------------------

// rigConfig is what a tlsRig varies in agent.yaml.
type rigConfig struct {
	certs        map[string]*tlsLeaf // written into certs_dir before the start
	noCertsDir   bool                // certs_dir does not exist at the start
	redirect     bool
	endpoints    string // endpoints.txt content; "" = no file
	endpointsYML string // extra keys under endpoints:, e.g. "default_port: 8443"
	acmeTokens   map[string]string
	tunnel       []server // servers of upstream "tunnel", served by a stream
	tunnelHealth string   // health: of upstream "tunnel"; "" = none
}

// tlsRig is a running agent with a TLS listener and a plain one, both
// "[::]:port", in front of an echoBackend.
type tlsRig struct {
	t          *testing.T
	pki        *tlsPKI
	proc       *proc
	backend    *echoBackend
	tlsPort    string
	plainPort  string
	streamPort string
	certsDir   string
	acmeDir    string
	epFile     string
	sock       string
	config     string
}

func startTLSRig(t *testing.T, pki *tlsPKI, rc rigConfig) *tlsRig {
	t.Helper()
	dir := t.TempDir()
	r := &tlsRig{
		t: t, pki: pki,
		backend:   &echoBackend{sseEvents: 5, sseGap: 150 * time.Millisecond},
		tlsPort:   freePort(t, ""),
		plainPort: freePort(t, ""),
		certsDir:  filepath.Join(dir, "certs"),
		acmeDir:   filepath.Join(dir, "acme"),
		epFile:    filepath.Join(dir, "endpoints.txt"),
		sock:      adminSocketPath(t),
	}
	baddr := rigServe(t, r.backend)
	if !rc.noCertsDir {
		if err := os.MkdirAll(r.certsDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, l := range rc.certs {
		installCert(t, r.certsDir, name, l)
	}
	if err := os.MkdirAll(r.acmeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for tok, content := range rc.acmeTokens {
		if err := os.WriteFile(filepath.Join(r.acmeDir, tok), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if rc.endpoints != "" {
		if err := os.WriteFile(r.epFile, []byte(rc.endpoints), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "listen:\n  - addr: %q\n    tls: true\n  - addr: %q\n", "[::]:"+r.tlsPort, "[::]:"+r.plainPort)
	fmt.Fprintf(&b, "admin: %q\naccess_log: \"off\"\ndrain: {delay: 0s, timeout: 1s}\n", r.sock)
	fmt.Fprintf(&b, "tls:\n  certs_dir: %q\n  redirect_http: %t\n", r.certsDir, rc.redirect)
	fmt.Fprintf(&b, "acme_challenge_dir: %q\n", r.acmeDir)
	fmt.Fprintf(&b, "endpoints:\n  file: %q\n  path: /api/v1/config/endpoints\n", r.epFile)
	for l := range strings.Lines(rc.endpointsYML) {
		fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(l))
	}
	fmt.Fprintf(&b, "upstreams:\n  api:\n    servers:\n      - addr: %q\n", baddr)
	b.WriteString("    health: {path: /health, interval: 200ms, rise: 1, fall: 1}\n")
	if len(rc.tunnel) > 0 {
		b.WriteString("  tunnel:\n    servers:\n")
		for _, s := range rc.tunnel {
			fmt.Fprintf(&b, "      - addr: %q\n", s.addr)
			if s.backup {
				b.WriteString("        backup: true\n")
			}
		}
		if rc.tunnelHealth != "" {
			fmt.Fprintf(&b, "    health: %s\n", rc.tunnelHealth)
		}
	}
	b.WriteString("routes:\n  - path: /\n    upstream: api\n")
	if len(rc.tunnel) > 0 {
		r.streamPort = freePort(t, "")
		fmt.Fprintf(&b, "streams:\n  - listen: %q\n    upstream: tunnel\n", "[::]:"+r.streamPort)
	}
	r.config = b.String()
	cfg := writeFile(t, "agent.yaml", r.config)
	r.proc = startAgent(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent.yaml:\n%s", r.config)
		}
	})
	waitReady(t, r.proc, httpClient(nil), r.plainURL("/health"))
	return r
}

func (r *tlsRig) plainURL(path string) string { return urlFor("127.0.0.1", r.plainPort, path) }

// httpsURL is https://host:TLSPORT/path; the client dials r's TLS
// listener whatever host says.
func (r *tlsRig) httpsURL(host, path string) string {
	return "https://" + net.JoinHostPort(host, r.tlsPort) + path
}

// https returns a client that connects to the TLS listener at ip (a
// loopback address) whatever the URL's host, which only sets the SNI name
// and Host. It verifies the chain against the test root, speaks HTTP/2
// when h2 is set and HTTP/1.1 otherwise, and follows no redirects.
func (r *tlsRig) https(ip string, h2, keepAlive bool) *http.Client {
	tr := &http.Transport{
		DialContext:       rigDialTo(net.JoinHostPort(ip, r.tlsPort)),
		TLSClientConfig:   &tls.Config{RootCAs: r.pki.pool},
		ForceAttemptHTTP2: h2,
		DisableKeepAlives: !keepAlive,
	}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second, CheckRedirect: rigNoRedirects}
}

// plain returns an HTTP client that follows no redirects.
func (r *tlsRig) plain() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		Timeout:       5 * time.Second,
		CheckRedirect: rigNoRedirects,
	}
}

func rigNoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func rigDialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// handshake completes a TLS handshake with the TLS listener sending sni
// ("" sends none) and returns the certificate chain the agent presented.
// It does not verify it: the test compares serials.
func (r *tlsRig) handshake(sni string) ([]*x509.Certificate, error) {
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 2 * time.Second},
		Config:    &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", r.tlsPort))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates, nil
}

// rigStatus is the part of the admin /status these tests read.
type rigStatus struct {
	Streams []struct {
		Listen      string `json:"listen"`
		Upstream    string `json:"upstream"`
		Connections int64  `json:"connections"`
	} `json:"streams"`
	Certificates []struct {
		Name    string `json:"name"`
		Serial  string `json:"serial"`
		Serving bool   `json:"serving"`
		Stale   bool   `json:"stale"`
		Error   string `json:"error"`
	} `json:"certificates"`
	Endpoints *struct {
		File    string `json:"file"`
		Path    string `json:"path"`
		Domains int    `json:"domains"`
		IPs     int    `json:"ips"`
		ETag    string `json:"etag"`
		Error   string `json:"error"`
	} `json:"endpoints"`
}

func (r *tlsRig) status() rigStatus {
	r.t.Helper()
	code, body, _, err := get(adminClient(r.sock), "http://agent/status")
	if err != nil || code != 200 {
		r.t.Fatalf("GET /status: %d %v\n%s", code, err, body)
	}
	var st rigStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		r.t.Fatalf("/status: %v\n%s", err, body)
	}
	return st
}

// rigFetch does req with c and returns the status, headers and body.
func rigFetch(t testing.TB, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp, body
}

func rigRequest(t testing.TB, method, url, host string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	return req
}

// rigRaw sends request as written on a new connection to addr and reads
// the response head.
func rigRaw(t testing.TB, addr, request string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func rigDecodeEcho(t testing.TB, body []byte) echoReply {
	t.Helper()
	var e echoReply
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("backend reply %q: %v", body, err)
	}
	return e
}

// rigWaitFor polls cond every 20 ms until it holds or limit passes, and
// returns how long it took.
func rigWaitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// ---- 1. SNI -----------------------------------------------------------------

func TestTLSSNISelection(t *testing.T) {
	pki := newTLSPKI(t)
	api := pki.leaf(t, "api.example.com")
	wild := pki.leaf(t, "*.example.com")
	def := pki.leaf(t, "other.test")
	// "default" answers unknown names although "api" sorts first.
	r := startTLSRig(t, pki, rigConfig{certs: map[string]*tlsLeaf{"api": api, "wildcard": wild, "default": def}})

	for _, tt := range []struct {
		name  string
		sni   string
		want  *tlsLeaf
		valid bool // the certificate is valid for sni: proxy a request too
	}{
		{name: "exact name beats the wildcard", sni: "api.example.com", want: api, valid: true},
		{name: "exact name in another case", sni: "API.Example.COM", want: api, valid: true},
		{name: "wildcard", sni: "x.example.com", want: wild, valid: true},
		{name: "wildcard covers one label only", sni: "a.b.example.com", want: def},
		{name: "wildcard does not cover the apex", sni: "example.com", want: def},
		{name: "name of the default certificate", sni: "other.test", want: def, valid: true},
		{name: "unknown name", sni: "unknown.invalid", want: def},
		{name: "no SNI", sni: "", want: def},
	} {
		t.Run(tt.name, func(t *testing.T) {
			chain, err := r.handshake(tt.sni)
			if err != nil {
				t.Fatalf("handshake with SNI %q: %v", tt.sni, err)
			}
			if got := chain[0].SerialNumber.Text(16); got != tt.want.serial() {
				t.Errorf("SNI %q got the certificate for %v (serial %s), want %v (serial %s)",
					tt.sni, chain[0].DNSNames, got, tt.want.cert.DNSNames, tt.want.serial())
			}
			if len(chain) != 2 {
				t.Errorf("chain of %d certificates, want 2 (leaf and intermediate from fullchain.pem)", len(chain))
			}
			if !tt.valid {
				return
			}
			// A verifying client, through the proxy to the backend.
			resp, body := rigFetch(t, r.https("127.0.0.1", false, false),
				rigRequest(t, "GET", r.httpsURL(tt.sni, "/hello?x=1"), "", nil))
			if resp.StatusCode != 200 {
				t.Fatalf("GET over TLS with SNI %q: %d %s, want 200", tt.sni, resp.StatusCode, body)
			}
			if got := resp.TLS.PeerCertificates[0].SerialNumber.Text(16); got != tt.want.serial() {
				t.Errorf("verified client got serial %s, want %s", got, tt.want.serial())
			}
			e := rigDecodeEcho(t, body)
			if e.Target != "/hello?x=1" || e.Proto != "https" || e.For != "127.0.0.1" {
				t.Errorf("backend saw target %q X-Forwarded-Proto %q X-Forwarded-For %q, want /hello?x=1 https 127.0.0.1",
					e.Target, e.Proto, e.For)
			}
		})
	}

	t.Run("plain listener", func(t *testing.T) {
		resp, body := rigFetch(t, r.plain(), rigRequest(t, "GET", r.plainURL("/hello"), "", nil))
		if resp.StatusCode != 200 {
			t.Fatalf("GET over plain HTTP: %d %s, want 200 (redirect_http is off)", resp.StatusCode, body)
		}
		if e := rigDecodeEcho(t, body); e.Proto != "http" {
			t.Errorf("backend saw X-Forwarded-Proto %q over plain HTTP, want http", e.Proto)
		}
	})

	t.Run("status", func(t *testing.T) {
		st := r.status()
		got := map[string]string{}
		for _, c := range st.Certificates {
			if !c.Serving || c.Error != "" {
				t.Errorf("certificate %s: serving %t error %q, want serving without error", c.Name, c.Serving, c.Error)
			}
			got[c.Name] = c.Serial
		}
		want := map[string]string{"api": api.serial(), "wildcard": wild.serial(), "default": def.serial()}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("/status certificates %v, want %v", got, want)
		}
	})
}

// ---- 2. no certificate yet --------------------------------------------------

func TestTLSNoCertificateYet(t *testing.T) {
	pki := newTLSPKI(t)
	for _, tt := range []struct {
		name    string
		missing bool
	}{
		{name: "empty certs_dir"},
		{name: "missing certs_dir", missing: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startTLSRig(t, pki, rigConfig{noCertsDir: tt.missing})
			// startTLSRig waited for health 200 on the plain listener.
			resp, body := rigFetch(t, r.plain(), rigRequest(t, "GET", r.plainURL("/hello"), "", nil))
			if resp.StatusCode != 200 {
				t.Fatalf("plain GET /hello: %d %s, want 200", resp.StatusCode, body)
			}
			start := time.Now()
			if chain, err := r.handshake("api.example.com"); err == nil {
				t.Fatalf("handshake succeeded without a certificate (serial %s)", chain[0].SerialNumber.Text(16))
			} else {
				t.Logf("handshake without a certificate fails in %s: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the failing handshake took %s, want a prompt failure", d)
			}
			if r.proc.exited() {
				t.Fatalf("agent exited: %v", r.proc.err)
			}

			if tt.missing {
				if err := os.MkdirAll(r.certsDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			leaf := pki.leaf(t, "api.example.com")
			installCert(t, r.certsDir, "api", leaf)
			written := time.Now()
			failures := 0
			rigWaitFor(t, certPollBudget+time.Second, "handshake after the certificate appeared", func() bool {
				chain, err := r.handshake("api.example.com")
				if err != nil {
					failures++
				}
				return err == nil && chain[0].SerialNumber.Text(16) == leaf.serial()
			})
			took := time.Since(written)
			t.Logf("first successful handshake %s after the certificate was written (%d failed before)", took.Round(time.Millisecond), failures)
			if took > certPollBudget {
				t.Errorf("TLS served the new certificate %s after it was written, want within %s", took, certPollBudget)
			}
			resp, body = rigFetch(t, r.https("127.0.0.1", false, false), rigRequest(t, "GET", r.httpsURL("api.example.com", "/hello"), "", nil))
			if resp.StatusCode != 200 {
				t.Fatalf("GET over TLS: %d %s, want 200", resp.StatusCode, body)
			}
		})
	}
}

// ---- 3. certificate replaced under load ------------------------------------

func TestTLSCertReplacedUnderLoad(t *testing.T) {
	const (
		workers = 8
		pause   = 5 * time.Millisecond // per worker between requests: bounds TIME_WAIT churn
		after   = 500 * time.Millisecond
	)
	pki := newTLSPKI(t)
	oldLeaf := pki.leaf(t, "api.example.com")
	newLeaf := pki.leaf(t, "api.example.com")
	r := startTLSRig(t, pki, rigConfig{certs: map[string]*tlsLeaf{"api": oldLeaf}})

	type result struct {
		start, end time.Time
		serial     string
		err        string
	}
	var (
		stop      = make(chan struct{})
		results   = make([][]result, workers)
		okCount   atomic.Int64
		newSeen   atomic.Bool
		wg        sync.WaitGroup
		url       = r.httpsURL("api.example.com", "/load")
		newSerial = newLeaf.serial()
	)
	for w := range workers {
		wg.Go(func() {
			c := r.https("127.0.0.1", false, false) // a new TLS connection per request
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res := result{start: time.Now()}
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					res.serial = resp.TLS.PeerCertificates[0].SerialNumber.Text(16)
				}
				res.end = time.Now()
				if err != nil {
					res.err = err.Error()
				} else {
					okCount.Add(1)
					if res.serial == newSerial {
						newSeen.Store(true)
					}
				}
				results[w] = append(results[w], res)
				time.Sleep(pause)
			}
		})
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	rigWaitFor(t, 3*time.Second, "load running on the old certificate", func() bool { return okCount.Load() >= 50 })
	replaced := replaceCert(t, r.certsDir, "api", newLeaf)
	rigWaitFor(t, certPollBudget+2*time.Second, "a handshake with the new certificate", newSeen.Load)
	time.Sleep(after)
	halt()

	var all []result
	for _, rs := range results {
		all = append(all, rs...)
	}
	var switchAt time.Time
	for _, res := range all {
		if res.err == "" && res.serial == newSerial && (switchAt.IsZero() || res.end.Before(switchAt)) {
			switchAt = res.end
		}
	}
	var failed, oldN, newN, lateOld int
	var errs []string
	for _, res := range all {
		switch {
		case res.err != "":
			failed++
			if len(errs) < 5 {
				errs = append(errs, res.err)
			}
		case res.serial == newSerial:
			newN++
		case res.serial == oldLeaf.serial():
			oldN++
			if res.start.After(switchAt) {
				lateOld++
			}
		default:
			t.Errorf("a request got serial %s, neither the old nor the new one", res.serial)
		}
	}
	took := switchAt.Sub(replaced)
	t.Logf("%d requests over new TLS connections from %d workers: %d on the old certificate, %d on the new, %d failed",
		len(all), workers, oldN, newN, failed)
	t.Logf("new certificate served %s after the files were replaced", took.Round(time.Millisecond))
	if failed > 0 {
		t.Errorf("%d requests failed, want none; first: %s", failed, strings.Join(errs, "; "))
	}
	if took > certPollBudget {
		t.Errorf("the new certificate was served %s after the replacement, want within %s", took, certPollBudget)
	}
	if lateOld > 0 {
		t.Errorf("%d requests that started after the switch still got the old certificate", lateOld)
	}
	for _, c := range r.status().Certificates {
		if c.Name == "api" && (c.Serial != newSerial || c.Stale || c.Error != "") {
			t.Errorf("/status for api: serial %s stale %t error %q, want serial %s, not stale, no error",
				c.Serial, c.Stale, c.Error, newSerial)
		}
	}
}

// ---- 4. HTTP/2 --------------------------------------------------------------

func TestH2ThroughTheProxy(t *testing.T) {
	pki := newTLSPKI(t)
	r := startTLSRig(t, pki, rigConfig{certs: map[string]*tlsLeaf{"api": pki.leaf(t, "api.example.com")}})

	for _, tt := range []struct {
		name      string
		ip        string
		h2        bool
		wantMajor int
	}{
		{name: "h2 over IPv4", ip: "127.0.0.1", h2: true, wantMajor: 2},
		{name: "h2 over IPv6", ip: "::1", h2: true, wantMajor: 2},
		{name: "HTTP/1.1 over TLS", ip: "127.0.0.1", wantMajor: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.ip, ":") {
				requireIPv6Loopback(t)
			}
			c := r.https(tt.ip, tt.h2, true)
			defer c.CloseIdleConnections()
			resp, body := rigFetch(t, c, rigRequest(t, "GET", r.httpsURL("api.example.com", "/api/items?page=2"), "", nil))
			if resp.StatusCode != 200 || resp.ProtoMajor != tt.wantMajor {
				t.Fatalf("GET: %s %d, want HTTP/%d 200: %s", resp.Proto, resp.StatusCode, tt.wantMajor, body)
			}
			e := rigDecodeEcho(t, body)
			if e.Target != "/api/items?page=2" || e.Method != "GET" {
				t.Errorf("backend saw %s %s, want GET /api/items?page=2", e.Method, e.Target)
			}
			if e.Proto != "https" {
				t.Errorf("X-Forwarded-Proto %q, want https", e.Proto)
			}
			if e.For != tt.ip || e.RealIP != tt.ip {
				t.Errorf("X-Forwarded-For %q X-Real-IP %q, want the client's IP %s", e.For, e.RealIP, tt.ip)
			}
			if want := net.JoinHostPort("api.example.com", r.tlsPort); e.FwdHost != want && e.Host != want {
				t.Errorf("backend saw Host %q X-Forwarded-Host %q, want %s", e.Host, e.FwdHost, want)
			}
		})
	}

	t.Run("h2 request body larger than the replay buffer", func(t *testing.T) {
		c := r.https("127.0.0.1", true, true)
		defer c.CloseIdleConnections()
		payload := bytes.Repeat([]byte("0123456789abcdef"), 12<<10) // 192 KiB
		resp, body := rigFetch(t, c, rigRequest(t, "POST", r.httpsURL("api.example.com", "/upload"), "", bytes.NewReader(payload)))
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("POST: %s %d: %s", resp.Proto, resp.StatusCode, body)
		}
		sum := sha256.Sum256(payload)
		if e := rigDecodeEcho(t, body); e.BodyLen != len(payload) || e.BodySum != hex.EncodeToString(sum[:]) {
			t.Errorf("backend got %d bytes (sha256 %s), want %d", e.BodyLen, e.BodySum, len(payload))
		}
	})

	t.Run("concurrent h2 streams on one connection", func(t *testing.T) {
		c := r.https("127.0.0.1", true, true)
		defer c.CloseIdleConnections()
		// One request first, so the others find the connection open.
		if resp, body := rigFetch(t, c, rigRequest(t, "GET", r.httpsURL("api.example.com", "/warm-up"), "", nil)); resp.ProtoMajor != 2 {
			t.Fatalf("warm-up: %s %d %s, want HTTP/2", resp.Proto, resp.StatusCode, body)
		}
		var conns sync.Map // client-side address → true
		var wg sync.WaitGroup
		errs := make(chan string, 32)
		for i := range 32 {
			wg.Go(func() {
				trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
					conns.Store(info.Conn.LocalAddr().String(), true)
				}}
				req := rigRequest(t, "GET", r.httpsURL("api.example.com", fmt.Sprintf("/n/%d", i)), "", nil)
				resp, err := c.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
				if err != nil {
					errs <- err.Error()
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !bytes.Contains(body, fmt.Appendf(nil, `"/n/%d"`, i)) {
					errs <- fmt.Sprintf("/n/%d: %s %d %s", i, resp.Proto, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		n := 0
		conns.Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Errorf("32 concurrent requests used %d connections, want 1 (h2 multiplexing)", n)
		}
	})

	t.Run("SSE reaches the h2 client event by event", func(t *testing.T) {
		c := r.https("127.0.0.1", true, true)
		defer c.CloseIdleConnections()
		c.Timeout = 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := rigRequest(t, "GET", r.httpsURL("api.example.com", "/sse"), "", nil).WithContext(ctx)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("GET /sse: %s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type %q, want text/event-stream", ct)
		}
		var got []time.Time
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				if want := fmt.Sprintf("data: event %d", len(got)); line != want {
					t.Errorf("line %q, want %q", line, want)
				}
				got = append(got, time.Now())
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		sent := r.backend.sentTimes()
		if len(got) != len(sent) || len(got) != r.backend.sseEvents {
			t.Fatalf("received %d events, backend sent %d, want %d", len(got), len(sent), r.backend.sseEvents)
		}
		var lat []string
		for i := range got {
			lat = append(lat, got[i].Sub(sent[i]).Round(time.Millisecond).String())
			// Each event must arrive before the backend sends the next one.
			if i+1 < len(sent) && !got[i].Before(sent[i+1]) {
				t.Errorf("event %d arrived %s after the backend sent event %d: the stream is buffered",
					i, got[i].Sub(sent[i+1]), i+1)
			}
		}
		t.Logf("event latencies backend flush → h2 client: %s (gap %s)", strings.Join(lat, " "), r.backend.sseGap)
		if !got[0].Before(sent[len(sent)-1]) {
			t.Errorf("the first event arrived only after the stream ended")
		}
	})
}

// ---- 5. HTTP → HTTPS redirect and ACME --------------------------------------

func TestRedirectHTTPToHTTPS(t *testing.T) {
	const token, keyAuth = "Tok3n_abc-DEF", "Tok3n_abc-DEF.thumbprint-xyz"
	pki := newTLSPKI(t)
	leaf := pki.leaf(t, "api.example.com")
	for _, redirect := range []bool{true, false} {
		t.Run(fmt.Sprintf("redirect_http=%t", redirect), func(t *testing.T) {
			r := startTLSRig(t, pki, rigConfig{
				certs:      map[string]*tlsLeaf{"api": leaf},
				redirect:   redirect,
				acmeTokens: map[string]string{token: keyAuth},
			})
			tlsPort := r.tlsPort
			routed := func(location string) (int, string) {
				if redirect {
					return 308, location
				}
				return 200, ""
			}
			for _, tt := range []struct {
				name     string
				method   string
				host     string // Host header; "" = 127.0.0.1:PLAIN
				target   string
				wantCode int
				wantLoc  string
				wantBody string // exact body, when set
			}{
				{name: "routed path keeps path and query", method: "GET", host: "api.example.com", target: "/api/items?page=2&q=a%20b",
					wantLoc: "https://api.example.com:" + tlsPort + "/api/items?page=2&q=a%20b"},
				{name: "Host with the plain port", method: "GET", host: "api.example.com:" + r.plainPort, target: "/x",
					wantLoc: "https://api.example.com:" + tlsPort + "/x"},
				{name: "IPv4 literal", method: "GET", target: "/x?y",
					wantLoc: "https://127.0.0.1:" + tlsPort + "/x?y"},
				{name: "IPv6 literal", method: "GET", host: "[::1]:" + r.plainPort, target: "/x",
					wantLoc: "https://[::1]:" + tlsPort + "/x"},
				{name: "POST", method: "POST", host: "api.example.com", target: "/api/items",
					wantLoc: "https://api.example.com:" + tlsPort + "/api/items"},
				{name: "health path", method: "GET", target: "/health", wantCode: 200},
				{name: "ACME token", method: "GET", target: "/.well-known/acme-challenge/" + token, wantCode: 200, wantBody: keyAuth},
				{name: "ACME token HEAD", method: "HEAD", target: "/.well-known/acme-challenge/" + token, wantCode: 200, wantBody: ""},
				{name: "ACME unknown token", method: "GET", target: "/.well-known/acme-challenge/NoSuchToken", wantCode: 404},
				{name: "ACME invalid token", method: "GET", target: "/.well-known/acme-challenge/bad.token", wantCode: 404},
				{name: "ACME traversal", method: "GET", target: "/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd", wantCode: 404},
				{name: "ACME directory itself", method: "GET", target: "/.well-known/acme-challenge/", wantCode: 404},
			} {
				t.Run(tt.name, func(t *testing.T) {
					code, loc := tt.wantCode, ""
					if tt.wantLoc != "" {
						code, loc = routed(tt.wantLoc)
					}
					req := rigRequest(t, tt.method, r.plainURL(""), tt.host, nil)
					req.URL.Opaque = tt.target // sent as is
					resp, body := rigFetch(t, r.plain(), req)
					if resp.StatusCode != code {
						t.Fatalf("%s %s: %d %q, want %d", tt.method, tt.target, resp.StatusCode, body, code)
					}
					if got := resp.Header.Get("Location"); got != loc {
						t.Errorf("Location %q, want %q", got, loc)
					}
					if tt.wantBody != "" || tt.method == "HEAD" {
						if string(body) != tt.wantBody {
							t.Errorf("body %q, want %q", body, tt.wantBody)
						}
					}
					if code == 200 && tt.wantLoc != "" { // routed, not redirected
						if e := rigDecodeEcho(t, body); e.Target != tt.target || e.Proto != "http" {
							t.Errorf("backend saw %s with X-Forwarded-Proto %q, want %s over http", e.Target, e.Proto, tt.target)
						}
					}
				})
			}
			// Requests a Go client will not send: no URL to redirect them to.
			for _, tt := range []struct {
				name    string
				request string
				want    int // with redirect_http: true
			}{
				{name: "HTTP/1.0 without Host", request: "GET /x HTTP/1.0\r\n\r\n", want: 400},
				{name: "empty Host", request: "GET /x HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n", want: 400},
				{name: "Host with a space", request: "GET /x HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", want: 400},
				{name: "Host with a path", request: "GET /x HTTP/1.1\r\nHost: evil.test/p\r\nConnection: close\r\n\r\n", want: 400},
				{name: "unclosed IPv6 literal", request: "GET /x HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n", want: 400},
				{name: "asterisk-form", request: "OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					resp := rigRaw(t, net.JoinHostPort("127.0.0.1", r.plainPort), tt.request)
					if loc := resp.Header.Get("Location"); resp.StatusCode == 308 || loc != "" {
						t.Fatalf("%q: %d Location %q, want no redirect", tt.request, resp.StatusCode, loc)
					}
					if redirect && tt.want != 0 && resp.StatusCode != tt.want {
						t.Errorf("%q: %d, want %d", tt.request, resp.StatusCode, tt.want)
					}
				})
			}
			t.Run("HTTPS is not redirected", func(t *testing.T) {
				resp, body := rigFetch(t, r.https("127.0.0.1", false, false), rigRequest(t, "GET", r.httpsURL("api.example.com", "/api/items?page=2"), "", nil))
				if resp.StatusCode != 200 {
					t.Fatalf("GET over TLS: %d %s, want 200", resp.StatusCode, body)
				}
				if e := rigDecodeEcho(t, body); e.Target != "/api/items?page=2" || e.Proto != "https" {
					t.Errorf("backend saw %s X-Forwarded-Proto %q", e.Target, e.Proto)
				}
			})
		})
	}
}

// ---- 6. endpoints list ------------------------------------------------------

func TestEndpointsE2E(t *testing.T) {
	const (
		v1 = "# the fleet\nDomainList:\napi.example.com\nb.example.net, c.example.org\nIPList:\n12.34.56.78\n2001:db8::7\n"
		v2 = "DomainList:\nnew.example.com\nIPList:\n2001:db8::8\n"
		v3 = "DomainList:\nnew.example.com\nnot a host!\nIPList:\n2001:db8::8\n"
		v4 = "domainlist:\nfixed.example.com\n"
	)
	pki := newTLSPKI(t)
	r := startTLSRig(t, pki, rigConfig{
		certs:        map[string]*tlsLeaf{"api": pki.leaf(t, "api.example.com")},
		redirect:     true, // the list is served on plain HTTP all the same
		endpoints:    v1,
		endpointsYML: "protocol: https\napi_path: /api/v2\nsocket_path: /socket.io\ndefault_port: 8443",
	})
	opts := endpoints.Options{Protocol: "https", APIPath: "/api/v2", SocketPath: "/socket.io", DefaultPort: 8443}
	render := func(content string) []byte {
		t.Helper()
		path := filepath.Join(t.TempDir(), "endpoints.txt")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := endpoints.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := endpoints.Render(l, opts).JSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const path = "/api/v1/config/endpoints"
	getList := func(c *http.Client, url, inm string) (*http.Response, []byte) {
		t.Helper()
		req := rigRequest(t, "GET", url, "", nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		return rigFetch(t, c, req)
	}
	plain, secure := r.plain(), r.https("127.0.0.1", true, false)
	plainURL, secureURL := r.plainURL(path), r.httpsURL("api.example.com", path)

	want1 := render(v1)
	var etag1 string
	for _, via := range []struct {
		name string
		c    *http.Client
		url  string
	}{{"plain HTTP", plain, plainURL}, {"HTTPS", secure, secureURL}} {
		resp, body := getList(via.c, via.url, "")
		if resp.StatusCode != 200 || !bytes.Equal(body, want1) {
			t.Fatalf("GET %s over %s: %d\n%s\nwant 200\n%s", path, via.name, resp.StatusCode, body, want1)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || (etag1 != "" && etag != etag1) {
			t.Errorf("ETag %q over %s (other listener: %q), want one non-empty tag", etag, via.name, etag1)
		}
		etag1 = etag
	}

	for _, tt := range []struct {
		name string
		inm  string
		want int
	}{
		{"current ETag", etag1, 304},
		{"weak form of the current ETag", "W/" + etag1, 304},
		{"list with the current ETag", `"other", ` + etag1, 304},
		{"star", "*", 304},
		{"another ETag", `"0123"`, 200},
	} {
		t.Run("If-None-Match "+tt.name, func(t *testing.T) {
			resp, body := getList(plain, plainURL, tt.inm)
			if resp.StatusCode != tt.want {
				t.Fatalf("If-None-Match %s: %d, want %d", tt.inm, resp.StatusCode, tt.want)
			}
			if tt.want == 304 && len(body) != 0 {
				t.Errorf("304 with a body: %q", body)
			}
			if got := resp.Header.Get("ETag"); got != etag1 {
				t.Errorf("ETag %q, want %q", got, etag1)
			}
		})
	}

	// A valid rewrite is served within the poll interval.
	want2 := render(v2)
	rigReplaceFile(t, r.epFile, v2)
	var body2 []byte
	var etag2 string
	took := rigWaitFor(t, certPollBudget+time.Second, "the rewritten list served", func() bool {
		resp, body := getList(plain, plainURL, "")
		body2, etag2 = body, resp.Header.Get("ETag")
		return resp.StatusCode == 200 && !bytes.Equal(body, want1)
	})
	t.Logf("rewritten endpoints list served %s after the rename", took.Round(time.Millisecond))
	if !bytes.Equal(body2, want2) {
		t.Fatalf("after the rewrite the agent serves\n%s\nwant\n%s", body2, want2)
	}
	if took > certPollBudget {
		t.Errorf("the new list was served %s after the rewrite, want within %s", took, certPollBudget)
	}
	if etag2 == etag1 {
		t.Errorf("ETag unchanged (%s) for a different list", etag2)
	}
	if resp, _ := getList(plain, plainURL, etag1); resp.StatusCode != 200 {
		t.Errorf("If-None-Match with the old ETag: %d, want 200", resp.StatusCode)
	}

	// An invalid rewrite keeps the list and shows in /status.
	rigReplaceFile(t, r.epFile, v3)
	_, perr := endpoints.ParseFile(r.epFile)
	if perr == nil {
		t.Fatal("v3 parses; the test needs an invalid file")
	}
	var st rigStatus
	rigWaitFor(t, certPollBudget+time.Second, "the rejected file in /status", func() bool {
		st = r.status()
		return st.Endpoints != nil && st.Endpoints.Error != ""
	})
	if got := st.Endpoints.Error; got != perr.Error() {
		t.Errorf("/status endpoints.error %q, want %q", got, perr.Error())
	}
	if !strings.Contains(st.Endpoints.Error, r.epFile+":3") {
		t.Errorf("/status endpoints.error %q does not name %s:3", st.Endpoints.Error, r.epFile)
	}
	if st.Endpoints.ETag != etag2 || st.Endpoints.Domains != 1 || st.Endpoints.IPs != 1 || st.Endpoints.Path != path {
		t.Errorf("/status endpoints %+v, want the v2 list (etag %s, 1 domain, 1 IP) at %s", *st.Endpoints, etag2, path)
	}
	resp, body := getList(plain, plainURL, "")
	if resp.StatusCode != 200 || !bytes.Equal(body, want2) || resp.Header.Get("ETag") != etag2 {
		t.Errorf("after an invalid rewrite: %d ETag %s\n%s\nwant 200 with the previous list (ETag %s)",
			resp.StatusCode, resp.Header.Get("ETag"), body, etag2)
	}

	// A valid file again clears the error.
	rigReplaceFile(t, r.epFile, v4)
	want4 := render(v4)
	rigWaitFor(t, certPollBudget+time.Second, "the fixed list served", func() bool {
		_, body := getList(plain, plainURL, "")
		return bytes.Equal(body, want4)
	})
	if st := r.status(); st.Endpoints == nil || st.Endpoints.Error != "" || st.Endpoints.Domains != 1 || st.Endpoints.IPs != 0 {
		t.Errorf("/status endpoints after the fix: %+v, want no error, 1 domain, 0 IPs", st.Endpoints)
	}
}

// ---- 7. L4 streams ----------------------------------------------------------

func TestStreamFailoverE2E(t *testing.T) {
	pki := newTLSPKI(t)
	for _, tt := range []struct {
		name   string
		health string
	}{
		{name: "dial failover without health checks"},
		{name: "TCP health checks", health: "{interval: 200ms, timeout: 500ms, rise: 1, fall: 1}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			echo := rigEcho(t)
			// The primary refuses: nothing listens on [::1] at that port (or
			// there is no ::1 at all, which fails the dial just the same).
			host := "::1"
			if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
				host = "127.0.0.1"
			} else {
				_ = ln.Close()
			}
			primary := net.JoinHostPort("::1", freePort(t, host))
			r := startTLSRig(t, pki, rigConfig{
				tunnel:       []server{{addr: primary}, {addr: echo, backup: true}},
				tunnelHealth: tt.health,
			})
			addr := net.JoinHostPort("127.0.0.1", r.streamPort)

			t.Run("echo", func(t *testing.T) {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				for i := range 3 {
					msg := fmt.Sprintf("hello %d\n", i)
					if _, err := io.WriteString(c, msg); err != nil {
						t.Fatal(err)
					}
					line, err := br.ReadString('\n')
					if err != nil || line != msg {
						t.Fatalf("round trip %d: %q %v, want %q", i, line, err, msg)
					}
				}
				// Half-close: the rest still comes back, then EOF.
				_, _ = io.WriteString(c, "last words")
				if err := c.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				rest, err := io.ReadAll(br)
				if err != nil || string(rest) != "last words" {
					t.Errorf("after CloseWrite: %q %v, want %q then EOF", rest, err, "last words")
				}
			})

			t.Run("concurrent connections", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for i := range 8 {
					wg.Go(func() {
						c, err := net.DialTimeout("tcp", addr, 2*time.Second)
						if err != nil {
							errs <- err
							return
						}
						defer c.Close()
						_ = c.SetDeadline(time.Now().Add(5 * time.Second))
						msg := bytes.Repeat(fmt.Appendf(nil, "%d", i), 64<<10)
						go func() {
							_, _ = c.Write(msg)
							_ = c.(*net.TCPConn).CloseWrite()
						}()
						got, err := io.ReadAll(c)
						if err != nil || !bytes.Equal(got, msg) {
							errs <- fmt.Errorf("connection %d: %d bytes back (%v), want %d", i, len(got), err, len(msg))
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
			})

			t.Run("status", func(t *testing.T) {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, "ping\n"); err != nil {
					t.Fatal(err)
				}
				if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "ping\n" {
					t.Fatalf("echo: %q %v", line, err)
				}
				conns := func() int64 {
					st := r.status()
					if len(st.Streams) != 1 {
						t.Fatalf("/status streams %+v, want one", st.Streams)
					}
					s := st.Streams[0]
					if s.Upstream != "tunnel" || !strings.HasSuffix(s.Listen, ":"+r.streamPort) {
						t.Errorf("/status stream %+v, want listen *:%s upstream tunnel", s, r.streamPort)
					}
					return s.Connections
				}
				rigWaitFor(t, 2*time.Second, "/status counting the open stream connection", func() bool { return conns() == 1 })
				_ = c.Close()
				rigWaitFor(t, 2*time.Second, "/status counting no stream connection", func() bool { return conns() == 0 })
			})
		})
	}
}

// rigEcho starts a TCP echo server on 127.0.0.1 that echoes until the
// client half-closes, then closes. It stops when the test ends.
func rigEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}
