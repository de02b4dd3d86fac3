package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"

	"github.com/edgectl/edgectl/remote"
)

// account is an ACME account: lego's registration.User.
type account struct {
	Directory    string                 `json:"directory"`
	Email        string                 `json:"email,omitempty"`
	Registration *registration.Resource `json:"registration,omitempty"`
	key          crypto.PrivateKey
}

func (a *account) GetEmail() string                        { return a.Email }
func (a *account) GetRegistration() *registration.Resource { return a.Registration }
func (a *account) GetPrivateKey() crypto.PrivateKey        { return a.key }

// loadAccount reads the account for directory and email from the state
// directory, creating its key (P-256, 0600) when there is none yet. The
// registration is nil for an account not registered yet.
func (s *State) loadAccount(directory, email string) (*account, error) {
	dir := s.accountDir(directory, email)
	keyPath := filepath.Join(dir, "account.key")
	a := &account{Directory: directory, Email: email}
	b, err := os.ReadFile(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create account directory: %w", err)
		}
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if err := remote.WriteFileAtomic(keyPath, pemKey, 0o600); err != nil {
			return nil, fmt.Errorf("save account key: %w", err)
		}
		a.key = k
		return a, nil
	case err != nil:
		return nil, fmt.Errorf("read account key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM key; move it away to create a new account", keyPath)
	}
	if a.key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w; move it away to create a new account", keyPath, err)
	}
	rb, err := os.ReadFile(filepath.Join(dir, "account.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(rb, a); err != nil {
		// Corrupt: moved aside; the key stays, so the CA finds the same
		// account again when it registers.
		path := filepath.Join(dir, "account.json")
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%s: %w (and it cannot be moved aside: %v)", path, err, rerr)
		}
		return &account{Directory: directory, Email: email, key: a.key}, nil
	}
	a.Directory, a.Email = directory, email
	return a, nil
}

// saveAccount writes account.json (0600).
func (s *State) saveAccount(a *account) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(s.accountDir(a.Directory, a.Email), "account.json")
	return remote.WriteFileAtomic(p, append(b, '\n'), 0o600)
}

// register makes sure a is registered with the CA behind client, agreeing
// to its terms of service, and saves the registration. An account
// registered before is reused as is.
func (s *State) register(client *lego.Client, a *account) (reused bool, err error) {
	if a.Registration != nil {
		return true, nil
	}
	reg, err := client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return false, fmt.Errorf("register ACME account at %s: %w", a.Directory, err)
	}
	a.Registration = reg
	return false, s.saveAccount(a)
}
