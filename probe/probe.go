// Package probe makes one HTTP(S) or TCP request to one exact address and
// reports what happened: status, latency, the TLS certificate served and a
// classified error. It never resolves a name and never falls back from one
// address family to the other, which is the point: diagnose, sweep and the
// deploy health gate must learn that [::1] refuses while 127.0.0.1 answers,
// not have a resolver or a Happy Eyeballs dialer hide it.
package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// DialFunc opens a TCP connection; remote.Host.DialContext fits, so a
// probe can be dialled from a remote host over SSH.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Request describes one probe.
type Request struct {
	// Addr is the exact IP:port to connect to ("[::1]:8000",
	// "198.18.0.11:443"). A hostname is rejected: probes never resolve.
	Addr string
	// Scheme is "http", "https" or "tcp" (connect only).
	Scheme string
	// Host is the Host header and, for https, the SNI name; default: the
	// address.
	Host string
	// Path is the request path (default "/").
	Path string
	// Timeout bounds the whole probe (default 2s).
	Timeout time.Duration
	// RootCAs verifies the certificate for https; nil means the system
	// pool. Verification failures are reported in Result.TLS.VerifyError
	// and do not stop the request.
	RootCAs *x509.CertPool
	// Dial opens the connection; nil dials from this machine.
	Dial DialFunc
}

// Result is the outcome of one probe.
type Result struct {
	// Addr and Family ("ipv4" or "ipv6") say what was probed.
	Addr   string `json:"addr"`
	Family string `json:"family"`
	// Connected is true once TCP connected.
	Connected bool `json:"connected"`
	// Status is the HTTP status code, 0 if none was received.
	Status int `json:"status,omitempty"`
	// Latency is from the start of the dial to the response headers (or
	// to the connect, for tcp).
	Latency time.Duration `json:"latency"`
	// Header holds the response headers (nil for tcp).
	Header http.Header `json:"-"`
	// Body holds up to 4 KiB of the response body.
	Body []byte `json:"-"`
	// TLS is the certificate served, for https.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Kind classifies Err: one of the Kind constants ("" when ok).
	Kind Kind `json:"kind,omitempty"`
	// Err is what failed, nil on success (any HTTP status is a success
	// of the probe; judging the status is the caller's business).
	Err error `json:"-"`
}

// OK reports whether the probe got a 2xx (or, for tcp, connected).
func (r Result) OK() bool {
	if r.Err != nil {
		return false
	}
	return r.Status == 0 && r.Connected || r.Status >= 200 && r.Status < 300
}

// TLSInfo describes the leaf certificate a server presented.
type TLSInfo struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	Serial      string    `json:"serial"`
	DNSNames    []string  `json:"dns_names"`
	NotAfter    time.Time `json:"not_after"`
	VerifyError string    `json:"verify_error,omitempty"`
	// HostnameOK is true when the certificate covers Request.Host.
	HostnameOK bool `json:"hostname_ok"`
}

// DaysLeft is the whole days until the certificate expires at now.
func (t *TLSInfo) DaysLeft(now time.Time) int {
	return int(t.NotAfter.Sub(now).Hours() / 24)
}

// Kind names why a probe failed.
type Kind string

// Failure kinds.
const (
	KindRefused     Kind = "refused"     // RST to the SYN: nothing listens
	KindTimeout     Kind = "timeout"     // no answer within the timeout (dropped, or a stuck server)
	KindUnreachable Kind = "unreachable" // no route, network unreachable, address family unsupported
	KindReset       Kind = "reset"       // connected, then reset or closed before a response
	KindTLS         Kind = "tls"         // TLS handshake failed
	KindProtocol    Kind = "protocol"    // a response that is not HTTP
	KindBadAddr     Kind = "bad-address" // Request.Addr is not IP:port
	KindOther       Kind = "error"
)

// Do runs the probe. It never returns an error of its own: everything is in
// Result.
func Do(ctx context.Context, req Request) Result {
	res := Result{Addr: req.Addr}
	ap, err := netip.ParseAddrPort(req.Addr)
	if err != nil {
		res.Kind, res.Err = KindBadAddr, fmt.Errorf("probe address %q is not IP:port: %w", req.Addr, err)
		return res
	}
	network := "tcp4"
	res.Family = "ipv4"
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network, res.Family = "tcp6", "ipv6"
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := req.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	start := time.Now()
	conn, err := dial(ctx, network, req.Addr)
	if err != nil {
		res.Latency = time.Since(start)
		res.Kind, res.Err = Classify(ctx, err), err
		return res
	}
	defer conn.Close()
	res.Connected = true
	if req.Scheme == "tcp" {
		res.Latency = time.Since(start)
		return res
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	host := req.Host
	if host == "" {
		host = ap.Addr().String()
		if ap.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	var rw io.ReadWriter = conn
	if req.Scheme == "https" {
		sni, _, err := net.SplitHostPort(host)
		if err != nil {
			sni = host
		}
		tc := tls.Client(conn, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			res.Latency = time.Since(start)
			res.Kind, res.Err = KindTLS, fmt.Errorf("tls handshake: %w", err)
			if ctx.Err() != nil {
				res.Kind = KindTimeout
			}
			return res
		}
		res.TLS = describe(tc.ConnectionState(), sni, req.RootCAs)
		rw = tc
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	if _, err := fmt.Fprintf(rw, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgectl-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n", path, host); err != nil {
		res.Latency = time.Since(start)
		res.Kind, res.Err = Classify(ctx, err), err
		return res
	}
	// A probe reads at most a head of maxHeadBytes and maxBodyBytes of
	// body, whatever the server sends.
	br := bufio.NewReader(&capReader{r: rw, left: maxHeadBytes + maxBodyBytes})
	resp, err := http.ReadResponse(br, nil)
	res.Latency = time.Since(start)
	if err != nil {
		res.Kind = Classify(ctx, err)
		if res.Kind == KindOther || errors.Is(err, errTooLarge) {
			res.Kind = KindProtocol
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			res.Kind = KindReset
			err = fmt.Errorf("connection closed before a response: %w", err)
		}
		res.Err = err
		return res
	}
	res.Status, res.Header = resp.StatusCode, resp.Header
	res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	resp.Body.Close()
	return res
}

// Bounds of what a probe reads from a server.
const (
	maxHeadBytes = 64 << 10
	maxBodyBytes = 4 << 10
)

var errTooLarge = fmt.Errorf("response head larger than %d KiB", maxHeadBytes>>10)

// capReader fails once more than left bytes were read.
type capReader struct {
	r    io.Reader
	left int
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooLarge
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

func describe(cs tls.ConnectionState, name string, roots *x509.CertPool) *TLSInfo {
	if len(cs.PeerCertificates) == 0 {
		return &TLSInfo{VerifyError: "no certificate"}
	}
	leaf := cs.PeerCertificates[0]
	info := &TLSInfo{
		Subject:    leaf.Subject.CommonName,
		Issuer:     leaf.Issuer.CommonName,
		Serial:     leaf.SerialNumber.Text(16),
		DNSNames:   leaf.DNSNames,
		NotAfter:   leaf.NotAfter,
		HostnameOK: leaf.VerifyHostname(name) == nil,
	}
	if info.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
		info.Issuer = leaf.Issuer.Organization[0]
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}); err != nil {
		info.VerifyError = err.Error()
	}
	return info
}

// Classify names the kind of a dial or read error.
func Classify(ctx context.Context, err error) Kind {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
		return KindUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), ctx.Err() != nil:
		return KindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return KindTimeout
	}
	// A dial through SSH (direct-tcpip) fails with the remote sshd's text.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Connection refused"):
		return KindRefused
	case strings.Contains(msg, "Connection timed out"):
		return KindTimeout
	case strings.Contains(msg, "No route to host"), strings.Contains(msg, "Network is unreachable"),
		strings.Contains(msg, "Cannot assign requested address"), strings.Contains(msg, "Address family not supported"):
		return KindUnreachable
	}
	return KindOther
}
