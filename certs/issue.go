package certs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"

	"github.com/edgectl/edgectl/fleet"
)

// Result is the outcome of an issue or a renewal.
type Result struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	// Renewed is false when renew found nothing to do (then nothing else
	// is set but Reason).
	Renewed  bool      `json:"renewed"`
	Reason   string    `json:"reason,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Orders is how many ACME orders were placed (1 for the whole fleet).
	Orders int `json:"orders"`
	// AccountReused is true when the stored account was used.
	AccountReused bool          `json:"account_reused"`
	Preflight     *Preflight    `json:"preflight,omitempty"`
	Distribution  *Distribution `json:"distribution,omitempty"`
	// Elapsed is from the start of the command to every address serving
	// the new certificate (elapsed_ms in JSON; absent when nothing was
	// issued).
	Elapsed time.Duration `json:"-"`
}

// MarshalJSON writes Elapsed as elapsed_ms, like every duration in
// edgectl's JSON.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		ElapsedMS float64 `json:"elapsed_ms,omitempty"`
	}{plain(r), millis(r.Elapsed)})
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ErrDistribution is matched by the error of an issue or renew whose
// certificate was obtained but not served everywhere.
var ErrDistribution = errors.New("certificate not served by every host")

// Issue places one order for c.Domains, validated through every host, and
// distributes the certificate to every host. It takes the state
// directory's lock. Pre-flight failures return a *PreflightError and place
// no order.
func Issue(ctx context.Context, c Config) (*Result, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	lock, err := c.State.Lock()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	return obtain(ctx, &c, "")
}

// obtain runs pre-flight, the order and distribution. replaces is the ARI
// certificate ID of the certificate being renewed ("" for none).
func obtain(ctx context.Context, c *Config, replaces string) (*Result, error) {
	start := time.Now()
	name := CertName(c.Domains[0])
	res := &Result{Name: name, Domains: c.Domains}
	if c.Dial == nil {
		return nil, errors.New("no way to reach the hosts (no dialer)")
	}
	conns, herrs := connectAll(ctx, c)
	if herrs != nil {
		p := &Preflight{Resolver: resolverName(c.Resolver), Names: []PreflightName{}, Hosts: herrs}
		res.Preflight = p
		return res, &PreflightError{Report: p}
	}
	defer closeAll(conns)

	http01 := c.Fleet.ACME.Challenge != fleet.ChallengeDNS01
	if http01 {
		c.Log.Info("pre-flight", "names", len(c.Domains), "hosts", len(conns), "resolver", c.Resolver)
		res.Preflight = preflight(ctx, c, conns)
		if !res.Preflight.OK() {
			return res, &PreflightError{Report: res.Preflight}
		}
	}

	a, err := c.State.loadAccount(c.Directory, c.Fleet.ACME.Email)
	if err != nil {
		return res, err
	}
	client, counter, err := newClient(c, a)
	if err != nil {
		return res, err
	}
	if http01 {
		err = client.Challenge.SetHTTP01Provider(&fleetHTTP01{
			conns: conns, dir: c.Fleet.Agent.ACMEChallengeDir, port: c.HTTPPort,
			targets: res.Preflight.targets(), timeout: 10 * time.Second,
			logf: func(f string, args ...any) { c.Log.Info(fmt.Sprintf(f, args...)) },
		})
	} else {
		err = setDNS01(client, c)
	}
	if err != nil {
		return res, err
	}
	if res.AccountReused, err = c.State.register(client, a); err != nil {
		return res, err
	}
	c.Log.Info("ordering", "domains", strings.Join(c.Domains, ","), "directory", c.Directory, "account_reused", res.AccountReused)
	cr, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: c.Domains, Bundle: true, ReplacesCertID: replaces})
	res.Orders = int(counter.orders.Load())
	if err != nil {
		return res, fmt.Errorf("obtain a certificate for %s from %s: %w", strings.Join(c.Domains, ", "), c.Directory, err)
	}
	stored, err := storeResource(c, name, cr)
	if err != nil {
		return res, err
	}
	res.Serial, res.Issuer, res.NotAfter = stored.Meta.Serial, stored.Meta.Issuer, stored.Meta.NotAfter
	c.Log.Info("issued", "name", name, "serial", res.Serial, "not_after", res.NotAfter)
	res.Distribution = distribute(ctx, c, conns, stored)
	res.Elapsed = time.Since(start)
	if !res.Distribution.OK() {
		return res, fmt.Errorf("%w: the certificate is saved in %s", ErrDistribution, c.State.Dir)
	}
	return res, nil
}

// storeResource saves what lego returned in the state directory.
func storeResource(c *Config, name string, cr *certificate.Resource) (*StoredCert, error) {
	leaf, err := parseLeaf(cr.Certificate)
	if err != nil {
		return nil, fmt.Errorf("the CA returned an unreadable certificate: %w", err)
	}
	meta := CertMeta{
		Name: name, Domains: c.Domains, Serial: leaf.SerialNumber.Text(16), Issuer: issuerName(leaf),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, CertURL: cr.CertURL, Directory: c.Directory, IssuedAt: c.Now().UTC(),
	}
	if err := c.State.SaveCert(meta, cr.Certificate, cr.PrivateKey); err != nil {
		return nil, err
	}
	return &StoredCert{Meta: meta, Chain: cr.Certificate, Key: cr.PrivateKey, Leaf: leaf}, nil
}

// issuerName is the issuer's common name, else its organisation.
func issuerName(leaf *x509.Certificate) string {
	if leaf.Issuer.CommonName != "" {
		return leaf.Issuer.CommonName
	}
	if len(leaf.Issuer.Organization) > 0 {
		return leaf.Issuer.Organization[0]
	}
	return leaf.Issuer.String()
}

// Staging is Let's Encrypt's staging directory, for --staging.
const Staging = lego.LEDirectoryStaging
