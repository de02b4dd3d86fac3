package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"
)

// HostKeyKind says why a host key was refused.
type HostKeyKind string

// Kinds of HostKeyError.
const (
	// HostKeyUnknown: known_hosts has no key for the address.
	HostKeyUnknown HostKeyKind = "unknown"
	// HostKeyChanged: known_hosts has other keys for the address.
	HostKeyChanged HostKeyKind = "changed"
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked HostKeyKind = "revoked"
)

// HostKeyError is returned by DialSSH when the host key cannot be
// trusted. Its message says what to do.
type HostKeyError struct {
	Kind HostKeyKind
	// Host is the host's name and Addr the address as looked up in File.
	Host string
	Addr string
	// Key is the key the host presented (nil when it offered none of the
	// known types), Fingerprint its SHA256:… fingerprint.
	Key         ssh.PublicKey
	Fingerprint string
	// File is the known_hosts file; Line the line of the known key that
	// did not match (changed, revoked), else 0. Known is that key.
	File  string
	Line  int
	Known ssh.PublicKey
}

func (e *HostKeyError) Error() string {
	switch e.Kind {
	case HostKeyUnknown:
		return fmt.Sprintf("host key for %s (%s) is not in %s (%s %s); verify the fingerprint, then record it",
			e.Host, e.Addr, e.File, keyKind(e.Key), e.Fingerprint)
	case HostKeyRevoked:
		return fmt.Sprintf("host key for %s (%s) (%s %s) is marked @revoked on line %d of %s; do not connect until the host has a new key",
			e.Host, e.Addr, keyKind(e.Key), e.Fingerprint, e.Line, e.File)
	}
	now := "it offers none of the known key types"
	if e.Key != nil {
		now = fmt.Sprintf("now %s %s", keyKind(e.Key), e.Fingerprint)
	}
	return fmt.Sprintf("host key for %s (%s) CHANGED (%s, line %d of %s has %s %s); if the host was rebuilt, remove line %d of %s and record the new key",
		e.Host, e.Addr, now, e.Line, e.File, keyKind(e.Known), ssh.FingerprintSHA256(e.Known), e.Line, e.File)
}

// keyKind names a key type as ssh does in its messages: ED25519, ECDSA, RSA.
func keyKind(k ssh.PublicKey) string {
	if k == nil {
		return "no key"
	}
	t := k.Type()
	switch {
	case t == ssh.KeyAlgoED25519:
		return "ED25519"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ECDSA"
	case t == ssh.KeyAlgoRSA:
		return "RSA"
	}
	return strings.ToUpper(t)
}

// hostKeyCheck verifies one host's key against a known_hosts file.
type hostKeyCheck struct {
	file      string
	acceptNew bool
	readOnly  bool // acceptNew trusts an unknown key for this connection only
	name      string
	addr      string
	accepted  string // fingerprint of the unknown key accepted, if any
}

// knownHostsMu serialises appends by this process; flock guards against
// other processes.
var knownHostsMu sync.Mutex

// probeKey is a key no host has, used to list the keys known for a host.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})

// lookup checks key: nil when known, a *knownhosts.KeyError (Want empty
// when the host is unknown), a *knownhosts.RevokedError, or a read error.
func (h *hostKeyCheck) lookup(key ssh.PublicKey) error {
	cb, err := knownhosts.New(h.file)
	if errors.Is(err, fs.ErrNotExist) {
		return &knownhosts.KeyError{}
	}
	if err != nil {
		return fmt.Errorf("read known hosts: %w", err)
	}
	return cb(h.addr, &net.TCPAddr{}, key)
}

// algorithms returns the host key algorithms for the key types known for
// the host, so that a server with several keys offers one we can check.
// nil (any) when none is known.
func (h *hostKeyCheck) algorithms() ([]string, error) {
	var ke *knownhosts.KeyError
	err := h.lookup(probeKey())
	if !errors.As(err, &ke) {
		return nil, err
	}
	var algs []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algs = append(algs, a)
			}
		}
	}
	return algs, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// check is the ssh.HostKeyCallback.
func (h *hostKeyCheck) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	err := h.lookup(key)
	if err == nil {
		return nil
	}
	if herr := h.refuse(err, key); herr != nil || !h.acceptNew {
		return herr
	}
	h.accepted = ssh.FingerprintSHA256(key)
	if h.readOnly {
		return nil
	}
	return h.record(key)
}

// refuse turns a lookup error into a *HostKeyError, or into a plain error
// for an unreadable file. It returns nil for an unknown host when the key
// may be recorded.
func (h *hostKeyCheck) refuse(err error, key ssh.PublicKey) error {
	e := &HostKeyError{Host: h.name, Addr: h.addr, Key: key, Fingerprint: ssh.FingerprintSHA256(key), File: h.file}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		e.Kind, e.Line, e.Known = HostKeyRevoked, re.Revoked.Line, re.Revoked.Key
		return e
	case errors.As(err, &ke) && len(ke.Want) > 0:
		want := ke.Want[0]
		for _, w := range ke.Want { // prefer the line with the same key type
			if w.Key.Type() == key.Type() {
				want = w
				break
			}
		}
		e.Kind, e.Line, e.Known, e.File = HostKeyChanged, want.Line, want.Key, want.Filename
		return e
	case errors.As(err, &ke):
		if h.acceptNew {
			return nil
		}
		e.Kind = HostKeyUnknown
		return e
	}
	return fmt.Errorf("check host key of %s (%s): %w", h.name, h.addr, err)
}

// noCommonType is the error for a host that offers none of the key types
// known_hosts lists for it: its keys changed.
func (h *hostKeyCheck) noCommonType() *HostKeyError {
	var ke *knownhosts.KeyError
	if !errors.As(h.lookup(probeKey()), &ke) || len(ke.Want) == 0 {
		return nil
	}
	w := ke.Want[0]
	return &HostKeyError{Kind: HostKeyChanged, Host: h.name, Addr: h.addr, File: w.Filename, Line: w.Line, Known: w.Key}
}

// record appends key for the host to the known_hosts file, unless another
// connection recorded it meanwhile.
func (h *hostKeyCheck) record(key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	fail := func(err error) error {
		return fmt.Errorf("record host key of %s (%s) in %s: %w", h.name, h.addr, h.file, err)
	}
	if err := os.MkdirAll(filepath.Dir(h.file), 0o700); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(h.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fail(err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	// Another process or connection may have written the host meanwhile.
	if err := h.lookup(key); err == nil {
		return nil
	} else if herr := h.refuse(err, key); herr != nil {
		return herr
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(h.addr)}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && err != io.EOF {
			return fail(err)
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return nil
}
