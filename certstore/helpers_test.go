package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a self-signed CA that issues the test certificates.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

// pair is a certificate directory's content.
type pair struct {
	chain, key []byte
	serial     string // hex, as Status and the handshake report it
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgectl test CA"},
		NotBefore:             time.Now().Add(-30 * 24 * time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// issue returns a leaf for names valid until notAfter (and for a day
// before it), followed in the chain by the CA certificate.
func (ca *testCA) issue(t *testing.T, serial int64, notAfter time.Time, names ...string) pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	return pair{
		chain:  chain,
		key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial: big.NewInt(serial).Text(16),
	}
}

// valid is a NotAfter for certificates that are valid now.
var valid = time.Now().Add(24 * time.Hour)

// writePair writes p into dir/name the way the host layout has it:
// fullchain.pem 0644, privkey.pem 0600.
func writePair(t *testing.T, dir, name string, p pair) {
	t.Helper()
	writeFile(t, filepath.Join(dir, name, ChainFile), p.chain, 0o644)
	writeFile(t, filepath.Join(dir, name, KeyFile), p.key, 0o600)
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

// open opens a store on dir, failing the test on error.
func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

// server is a real TLS listener on port 0 using a store's TLSConfig.
type server struct {
	addr string
	errs chan error // server-side handshake results; dropped when full
}

func serve(t *testing.T, s *Store) *server {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	srv := &server{addr: ln.Addr().String(), errs: make(chan error, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				select {
				case srv.errs <- c.(*tls.Conn).Handshake():
				default:
				}
			}()
		}
	}()
	return srv
}

// dial makes a real handshake with SNI sni ("" sends none) and returns the
// leaf the server presented. The chain must lead to ca; names and validity
// times are left to the test.
func (srv *server) dial(t *testing.T, ca *testCA, sni string) (*x509.Certificate, error) {
	t.Helper()
	cs, err := srv.handshake(ca, &tls.Config{ServerName: sni})
	if err != nil {
		return nil, err
	}
	return cs.PeerCertificates[0], nil
}

// handshake dials with cfg, verifying only that the chain leads to ca.
func (srv *server) handshake(ca *testCA, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg.InsecureSkipVerify = true // names and times are checked by the tests
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		leaf := cs.PeerCertificates[0]
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots: ca.pool, Intermediates: inter, CurrentTime: leaf.NotBefore.Add(time.Minute),
		})
		return err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", srv.addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

// eventually retries a handshake with sni until it presents serial or the
// deadline passes.
func (srv *server) eventually(t *testing.T, ca *testCA, sni, serial string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		leaf, err := srv.dial(t, ca, sni)
		if err == nil && leaf.SerialNumber.Text(16) == serial {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("handshake for %q within %v: got leaf %v, err %v; want serial %s",
				sni, within, leafSerial(leaf), err, serial)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func leafSerial(c *x509.Certificate) string {
	if c == nil {
		return "none"
	}
	return c.SerialNumber.Text(16)
}
