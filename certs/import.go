package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// Certificate sources cert import understands.
const (
	SourceAcmeSh  = "acme.sh"
	SourceCertbot = "certbot"
)

// ImportConfig is what ImportExisting needs.
type ImportConfig struct {
	// Fleet is the loaded fleet.yaml: its domains and tls.certs_dir.
	Fleet *fleet.Fleet
	// Hosts are the hosts to import on (default: every fleet host).
	Hosts []fleet.Host
	// Dial connects to a host.
	Dial Dialer
	// Domains to look for (default: the fleet's domains).
	Domains []string
	// DryRun finds and checks, and installs nothing.
	DryRun bool
	// Log receives progress (nil: discarded).
	Log *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Found is one certificate found on a host for a domain.
type Found struct {
	Domain string `json:"domain"`
	// Source is acme.sh or certbot; Dir the directory it was found in.
	Source string `json:"source"`
	Dir    string `json:"dir"`
	Chain  string `json:"chain_file"`
	Key    string `json:"key_file"`
	Serial string `json:"serial,omitempty"`
	Issuer string `json:"issuer,omitempty"`
	// Names are the certificate's DNS names.
	Names    []string  `json:"names,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	DaysLeft int       `json:"days_left"`
	// Problem says why it cannot be used ("" when it can).
	Problem string `json:"problem,omitempty"`
	// Chosen marks the certificate used for the domain (the valid one
	// that expires last); InstalledTo is where it went (empty on a dry
	// run or when installing failed).
	Chosen      bool   `json:"chosen"`
	InstalledTo string `json:"installed_to,omitempty"`
	// Kept is the serial of the certificate certs_dir already held for the
	// domain, left in place because it expires no earlier.
	Kept string `json:"kept_serial,omitempty"`

	chain, key []byte
	leaf       *x509.Certificate
}

// HostImport is what cert import found and did on one host.
type HostImport struct {
	Host string `json:"host"`
	// Error is set when the host could not be searched or written.
	Error string `json:"error,omitempty"`
	// Found lists every certificate found for the fleet's domains.
	Found []Found `json:"certificates"`
	// Missing lists the domains with no usable certificate.
	Missing []string `json:"missing,omitempty"`
	// Renewals are cron entries and timers that still renew with
	// acme.sh or certbot.
	Renewals []Renewal `json:"renewals"`
}

// OK reports whether every domain has a usable certificate on the host.
func (h *HostImport) OK() bool { return h.Error == "" && len(h.Missing) == 0 }

// ImportResult is the outcome of ImportExisting.
type ImportResult struct {
	DryRun bool         `json:"dry_run"`
	Hosts  []HostImport `json:"hosts"`
}

// ErrNothingImported is returned when no host got a certificate.
var ErrNothingImported = errors.New("no certificate was imported")

// ImportExisting looks on every host for the certificates acme.sh
// (~/.acme.sh/<domain>[_ecc]/ of root and of the SSH user) and certbot
// (/etc/letsencrypt/live/<name>/, symlinks followed) keep for the fleet's
// domains, checks each (the key matches, it has not expired, its names
// cover the domain), installs the one that expires last into
// tls.certs_dir/<name>/ the way distribution does (staged, then renamed
// into place, key 0600), and reports the cron entries and timers that still
// renew with acme.sh or certbot.
func ImportExisting(ctx context.Context, c ImportConfig) (*ImportResult, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	res := &ImportResult{DryRun: c.DryRun, Hosts: make([]HostImport, len(c.Hosts))}
	var wg sync.WaitGroup
	for i, h := range c.Hosts {
		wg.Go(func() { res.Hosts[i] = importHost(ctx, c, h) })
	}
	wg.Wait()
	for _, h := range res.Hosts {
		if h.OK() {
			return res, nil
		}
	}
	return res, ErrNothingImported
}

func (c *ImportConfig) defaults() error {
	if c.Fleet == nil {
		return errors.New("no fleet")
	}
	if len(c.Domains) == 0 {
		c.Domains = c.Fleet.Domains
	}
	if len(c.Domains) == 0 {
		return errors.New("no domains: list them under domains: in fleet.yaml")
	}
	if c.Hosts == nil {
		c.Hosts = c.Fleet.Hosts
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// importHost dials one host and imports on it.
func importHost(ctx context.Context, c ImportConfig, h fleet.Host) HostImport {
	rh, err := c.Dial(ctx, h)
	if err != nil {
		return HostImport{Host: h.Name, Found: []Found{}, Renewals: []Renewal{}, Error: err.Error()}
	}
	defer rh.Close()
	return importOn(ctx, c, h, rh)
}

// ImportOnHost is ImportExisting for one host already connected (rh is
// not closed): a step of a deploy that takes a node over. c.Hosts and
// c.Dial are not used.
func ImportOnHost(ctx context.Context, c ImportConfig, h fleet.Host, rh remote.Host) (HostImport, error) {
	if err := c.defaults(); err != nil {
		return HostImport{}, err
	}
	return importOn(ctx, c, h, rh), nil
}

// importOn searches, checks and installs on one host.
func importOn(ctx context.Context, c ImportConfig, h fleet.Host, rh remote.Host) HostImport {
	hi := HostImport{Host: h.Name, Found: []Found{}, Renewals: []Renewal{}}
	found, err := scan(ctx, rh)
	if err != nil {
		hi.Error = err.Error()
		return hi
	}
	hi.Renewals, _ = renewals(ctx, rh)
	now := c.Now()
	installed := map[string]string{} // serial → certs_dir/<name>
	for _, d := range c.Domains {
		var cands []Found
		for _, f := range found {
			f.Domain = d
			check(&f, d, now)
			if f.leaf != nil && coversName(f.leaf, d) || f.leaf == nil && f.dirName() == CertName(d) {
				cands = append(cands, f)
			}
		}
		best := -1
		for i, f := range cands {
			if f.Problem == "" && (best < 0 || f.NotAfter.After(cands[best].NotAfter)) {
				best = i
			}
		}
		if best < 0 {
			hi.Missing = append(hi.Missing, d)
		} else {
			f := &cands[best]
			f.Chosen = true
			name := CertName(d)
			if to, ok := installed[f.Serial]; ok {
				f.InstalledTo = to
			} else if kept := newer(ctx, rh, c.Fleet.Agent.TLS.CertsDir, name, d, f.leaf); kept != "" {
				f.Kept = kept
			} else if !c.DryRun {
				stored := &StoredCert{Meta: CertMeta{Name: name, Serial: f.Serial}, Chain: f.chain, Key: f.key, Leaf: f.leaf}
				if err := install(ctx, rh, c.Fleet.Agent.TLS.CertsDir, stored); err != nil {
					hi.Error = err.Error()
				} else {
					f.InstalledTo = path.Join(c.Fleet.Agent.TLS.CertsDir, name) + "/"
					installed[f.Serial] = f.InstalledTo
					c.Log.Info("certificate imported", "host", h.Name, "domain", d, "source", f.Source, "serial", f.Serial)
				}
			}
		}
		hi.Found = append(hi.Found, cands...)
	}
	return hi
}

// newer returns the serial of the certificate certs_dir/<name>/ holds when
// it is another one for domain that expires no earlier than leaf: cert
// import never undoes a renewal by edgectl. The same certificate is
// installed again (which gives it the directory's owner again).
func newer(ctx context.Context, h remote.Host, certsDir, name, domain string, leaf *x509.Certificate) string {
	chain, err := h.ReadFile(ctx, path.Join(certsDir, name, ChainFile))
	if err != nil {
		return ""
	}
	cur, err := parseLeaf(chain)
	if err != nil || !coversName(cur, domain) || cur.SerialNumber.Cmp(leaf.SerialNumber) == 0 || cur.NotAfter.Before(leaf.NotAfter) {
		return ""
	}
	return cur.SerialNumber.Text(16)
}

// check fills in what the certificate is and whether it can serve domain.
func check(f *Found, domain string, now time.Time) {
	_, err := tls.X509KeyPair(f.chain, f.key)
	leaf, lerr := parseLeaf(f.chain)
	if lerr == nil {
		f.leaf = leaf
		f.Serial, f.Issuer, f.Names, f.NotAfter = leaf.SerialNumber.Text(16), issuerName(leaf), leaf.DNSNames, leaf.NotAfter
		f.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
	}
	switch {
	case f.Problem != "":
	case lerr != nil:
		f.Problem = "no PEM certificate in " + f.Chain
	case err != nil:
		f.Problem = "the key " + f.Key + " does not match the certificate (or is not a PEM private key)"
	case !now.Before(leaf.NotAfter):
		f.Problem = "expired on " + leaf.NotAfter.UTC().Format(time.DateOnly)
	case now.Before(leaf.NotBefore):
		f.Problem = "not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339)
	case !coversName(leaf, domain):
		f.Problem = "its names (" + strings.Join(leaf.DNSNames, ", ") + ") do not cover " + domain
	}
}

// dirName is the name of the directory it was found in, without acme.sh's
// _ecc suffix: the domain it was issued for, by the tools' conventions.
func (f *Found) dirName() string {
	return strings.TrimSuffix(path.Base(f.Dir), "_ecc")
}

// coversName reports whether the certificate is valid for name (a
// "*.example.com" domain needs the wildcard itself).
func coversName(leaf *x509.Certificate, name string) bool {
	if strings.HasPrefix(name, "*.") {
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	return leaf.VerifyHostname(name) == nil
}

// readPair reads a chain and key file; a problem reading is kept on f.
func readPair(ctx context.Context, h remote.Host, f *Found) {
	var err error
	if f.chain, err = h.ReadFile(ctx, f.Chain); err != nil {
		f.Problem = "cannot read " + f.Chain + ": " + shortErr(err)
		return
	}
	if f.key, err = h.ReadFile(ctx, f.Key); err != nil {
		f.Problem = "cannot read " + f.Key + ": " + shortErr(err)
		if errors.Is(err, fs.ErrPermission) {
			f.Problem += " (log in as root: ssh.user)"
		}
	}
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}
