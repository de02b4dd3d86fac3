package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/lego"
	legolog "github.com/go-acme/lego/v4/log"
)

// orderCounter counts the ACME newOrder requests that go through it: the
// figure "one order for the whole fleet" is measured, not assumed.
type orderCounter struct {
	next     http.RoundTripper
	newOrder string // the directory's newOrder URL
	orders   atomic.Int64
}

func (o *orderCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && o.newOrder != "" && r.URL.String() == o.newOrder {
		o.orders.Add(1)
	}
	return o.next.RoundTrip(r)
}

// learn reads the newOrder URL from the ACME directory.
func (o *orderCounter) learn(hc *http.Client, directory string) error {
	resp, err := hc.Get(directory)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var dir struct {
		NewOrder string `json:"newOrder"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&dir); err != nil {
		return fmt.Errorf("read the ACME directory %s: %w", directory, err)
	}
	o.newOrder = dir.NewOrder
	return nil
}

// acmeRoots is the pool that verifies the ACME directory: c.RootCAs, else
// the system roots plus acme.ca_certificates and LEGO_CA_CERTIFICATES when
// either is set, else nil (the system roots).
func acmeRoots(c *Config) (*x509.CertPool, error) {
	if c.RootCAs != nil {
		return c.RootCAs, nil
	}
	var files []string
	if f := c.Fleet.ACME.CACertificates; f != "" {
		files = append(files, f)
	}
	if env := os.Getenv("LEGO_CA_CERTIFICATES"); env != "" {
		files = append(files, filepath.SplitList(env)...)
	}
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := lego.CreateCertPool(files, true)
	if err != nil {
		return nil, fmt.Errorf("acme.ca_certificates: %w; give a PEM file of the CA's roots", err)
	}
	return pool, nil
}

// newClient builds a lego client for account a whose HTTP requests go
// through counter.
func newClient(c *Config, a *account) (*lego.Client, *orderCounter, error) {
	// lego logs through a package-level logger; send it to c.Log at debug
	// level instead of stderr, since a library prints nothing.
	legolog.Logger = log.New(debugWriter{c.Log}, "", 0)
	roots, err := acmeRoots(c)
	if err != nil {
		return nil, nil, err
	}
	counter := &orderCounter{next: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSClientConfig:       &tls.Config{RootCAs: roots},
	}}
	cfg := lego.NewConfig(a)
	cfg.CADirURL = c.Directory
	cfg.UserAgent = "edgectl"
	cfg.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: counter}
	cfg.Certificate.KeyType = certcrypto.EC256
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("reach the ACME directory %s: %w", c.Directory, err)
	}
	if err := counter.learn(cfg.HTTPClient, c.Directory); err != nil {
		return nil, nil, err
	}
	return client, counter, nil
}

// debugWriter turns lines written by a log.Logger into slog debug records.
type debugWriter struct{ l *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimRight(string(p), "\n"), "from", "lego")
	return len(p), nil
}
