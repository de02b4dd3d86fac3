package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgectl/edgectl/remote"
)

// State file names.
const (
	ChainFile = "fullchain.pem" // leaf first, then intermediates
	KeyFile   = "privkey.pem"   // the leaf's private key
	metaFile  = "meta.json"
)

// ErrNoStateDir: neither $XDG_DATA_HOME nor $HOME says where the default
// state directory is; the caller must name one.
var ErrNoStateDir = errors.New("no default state directory ($XDG_DATA_HOME and $HOME are unset)")

// DefaultStateDir is $XDG_DATA_HOME/edgectl/acme, or
// ~/.local/share/edgectl/acme.
func DefaultStateDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "edgectl", "acme"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoStateDir, err)
	}
	return filepath.Join(home, ".local", "share", "edgectl", "acme"), nil
}

// State is the local state directory: ACME accounts and the certificates
// issued with them.
//
//	DIR/                               0700
//	DIR/lock                           flock of renew/issue runs
//	DIR/accounts/<id>/account.key      0600, PEM EC private key
//	DIR/accounts/<id>/account.json     0600, directory URL, email, registration
//	DIR/certificates/<name>/fullchain.pem, privkey.pem, meta.json   0600
//
// <id> is derived from the directory URL and the email, so staging and
// production accounts never mix.
type State struct {
	Dir string
}

// OpenState creates dir (0700) if needed and tightens its mode if it is
// looser.
func OpenState(dir string) (*State, error) {
	if dir == "" {
		return nil, errors.New("no state directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &State{Dir: dir}, nil
}

// CertMeta is what meta.json records about a certificate.
type CertMeta struct {
	Name      string    `json:"name"`
	Domains   []string  `json:"domains"`
	Serial    string    `json:"serial"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	CertURL   string    `json:"cert_url,omitempty"`
	Directory string    `json:"directory"`
	IssuedAt  time.Time `json:"issued_at"`
}

// StoredCert is a certificate kept in the state directory.
type StoredCert struct {
	Meta  CertMeta
	Chain []byte // PEM, leaf first
	Key   []byte // PEM private key
	Leaf  *x509.Certificate
	// Recovered, when set, says meta.json was corrupt: it was moved aside
	// and rebuilt from the certificate (a warning for the operator).
	Recovered string
}

// CertName is the directory name used for a certificate whose first name is
// domain: the domain itself, with a wildcard's "*" spelled "_".
func CertName(domain string) string {
	return strings.ReplaceAll(strings.ToLower(domain), "*", "_")
}

func (s *State) certDir(name string) string {
	return filepath.Join(s.Dir, "certificates", name)
}

// SaveCert stores chain and key under certificates/<meta.Name>/, every file
// 0600, each written atomically.
func (s *State) SaveCert(meta CertMeta, chain, key []byte) error {
	dir := s.certDir(meta.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, key}, {ChainFile, chain}, {metaFile, append(mb, '\n')}} {
		if err := remote.WriteFileAtomic(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return fmt.Errorf("save certificate %s: %w", meta.Name, err)
		}
	}
	return nil
}

// LoadCert reads the certificate called name. A missing one is an error
// matching fs.ErrNotExist.
func (s *State) LoadCert(name string) (*StoredCert, error) {
	dir := s.certDir(name)
	mb, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return nil, err
	}
	c := &StoredCert{}
	metaErr := json.Unmarshal(mb, &c.Meta)
	if c.Chain, err = os.ReadFile(filepath.Join(dir, ChainFile)); err != nil {
		return nil, err
	}
	if c.Key, err = os.ReadFile(filepath.Join(dir, KeyFile)); err != nil {
		return nil, err
	}
	if c.Leaf, err = parseLeaf(c.Chain); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ChainFile), err)
	}
	if metaErr != nil {
		// A corrupt meta.json would fail every renew run: move it aside
		// and rebuild it from the certificate it describes.
		path := filepath.Join(dir, metaFile)
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			return nil, fmt.Errorf("%s: %w (and it cannot be moved aside: %v)", path, metaErr, err)
		}
		c.Meta = CertMeta{Name: name, Domains: c.Leaf.DNSNames, Serial: c.Leaf.SerialNumber.Text(16),
			Issuer: c.Leaf.Issuer.CommonName, NotBefore: c.Leaf.NotBefore, NotAfter: c.Leaf.NotAfter}
		if mb, err := json.MarshalIndent(c.Meta, "", "  "); err == nil {
			_ = remote.WriteFileAtomic(path, append(mb, '\n'), 0o600)
		}
		c.Recovered = fmt.Sprintf("%s was not valid JSON (%v); moved it to %s and rebuilt it from %s", path, metaErr, aside, ChainFile)
	}
	return c, nil
}

// HasCert reports whether a certificate called name is stored.
func (s *State) HasCert(name string) bool {
	_, err := os.Stat(filepath.Join(s.certDir(name), metaFile))
	return !errors.Is(err, fs.ErrNotExist)
}

// parseLeaf returns the first certificate of a PEM chain.
func parseLeaf(chain []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(chain)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// accountDir is accounts/<host>-<hash of directory URL and email>.
func (s *State) accountDir(directory, email string) string {
	h := sha256.Sum256([]byte(directory + "\x00" + email))
	host := "ca"
	if u, err := url.Parse(directory); err == nil && u.Hostname() != "" {
		host = strings.NewReplacer(":", "_", "/", "_").Replace(u.Host)
	}
	return filepath.Join(s.Dir, "accounts", host+"-"+hex.EncodeToString(h[:6]))
}
