package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certificate"
)

// Window is a renewal window suggested by the CA (ACME Renewal Information,
// RFC 9773).
type Window struct {
	Start, End time.Time
}

// RenewalDue decides whether a certificate valid from notBefore to
// notAfter should be renewed at now: when at most a third of its lifetime
// remains, or when the CA's ARI window (nil when the CA offers none) has
// opened. reason says why, or when renewal will be due.
func RenewalDue(now, notBefore, notAfter time.Time, ari *Window) (due bool, reason string) {
	life := notAfter.Sub(notBefore)
	at := notAfter.Add(-life / 3)
	switch {
	case !now.Before(notAfter):
		return true, fmt.Sprintf("expired at %s", notAfter.UTC().Format(time.RFC3339))
	case !now.Before(at):
		return true, fmt.Sprintf("a third of the lifetime or less remains (expires %s)", notAfter.UTC().Format(time.RFC3339))
	case ari != nil && !now.Before(ari.Start):
		return true, fmt.Sprintf("the CA's renewal window opened at %s (ARI)", ari.Start.UTC().Format(time.RFC3339))
	}
	next := at
	if ari != nil && ari.Start.Before(next) {
		next = ari.Start
	}
	return false, fmt.Sprintf("not due until %s", next.UTC().Format(time.RFC3339))
}

// ErrNoCertificate is matched by a *NoCertificateError.
var ErrNoCertificate = errors.New("no certificate")

// NoCertificateError says the state directory holds no certificate for
// the fleet's domains: it was never issued from this directory. Renew
// returns it; Status reports the same through NameStatus.Local.
type NoCertificateError struct {
	Name string // the certificate's name (its first domain)
	Dir  string // the state directory
}

func (e *NoCertificateError) Error() string {
	return fmt.Sprintf("no certificate %s in %s", e.Name, e.Dir)
}

// Is makes errors.Is(err, ErrNoCertificate) hold.
func (e *NoCertificateError) Is(target error) bool { return target == ErrNoCertificate }

// Renew renews the fleet's certificate when RenewalDue says so (or always
// with force) and distributes it. When nothing is due it returns a Result
// with Renewed false and no error. It takes the state directory's lock, so
// two runs never overlap: the second gets ErrLocked.
func Renew(ctx context.Context, c Config, force bool) (*Result, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	lock, err := c.State.Lock()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	name := CertName(c.Domains[0])
	cur, err := c.State.LoadCert(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NoCertificateError{Name: name, Dir: c.State.Dir}
	}
	if err != nil {
		return nil, err
	}
	if cur.Recovered != "" {
		c.Log.Warn(cur.Recovered)
	}
	c.Domains = cur.Meta.Domains
	if cur.Meta.Directory != "" {
		c.Directory = cur.Meta.Directory
	}
	ari, ariErr := renewalInfo(&c, cur)
	if ariErr != nil {
		c.Log.Debug("no renewal information from the CA", "err", ariErr)
	}
	due, reason := RenewalDue(c.Now(), cur.Leaf.NotBefore, cur.Leaf.NotAfter, ari)
	if force {
		due, reason = true, "forced"
	}
	if !due {
		return &Result{Name: name, Domains: cur.Meta.Domains, Reason: reason, Serial: cur.Meta.Serial, NotAfter: cur.Meta.NotAfter}, nil
	}
	c.Log.Info("renewing", "name", name, "reason", reason)
	replaces := ""
	if ari != nil {
		replaces, _ = certificate.MakeARICertID(cur.Leaf)
	}
	res, err := obtain(ctx, &c, replaces)
	if res != nil {
		res.Renewed = err == nil || errors.Is(err, ErrDistribution)
		res.Reason = reason
	}
	return res, err
}

// renewalInfo asks the CA for the certificate's ARI window. It returns
// nil and an error when the CA offers no ARI or cannot be reached.
func renewalInfo(c *Config, cur *StoredCert) (*Window, error) {
	a, err := c.State.loadAccount(c.Directory, c.Fleet.ACME.Email)
	if err != nil {
		return nil, err
	}
	client, _, err := newClient(c, a)
	if err != nil {
		return nil, err
	}
	ri, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: cur.Leaf})
	if err != nil {
		if errors.Is(err, api.ErrNoARI) {
			return nil, errors.New("the CA offers no ARI")
		}
		return nil, err
	}
	return &Window{Start: ri.SuggestedWindow.Start, End: ri.SuggestedWindow.End}, nil
}
