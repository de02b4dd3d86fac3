package remote

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// AuthError is returned by DialSSH when edgectl cannot log in: no usable
// key on this side (a missing or encrypted identity file, no ssh-agent), or
// the server refused every key offered. It is a configuration problem the
// operator fixes, not a host that is down.
type AuthError struct {
	// Host is the host's name, Addr its address and User the login.
	Host, Addr, User string
	// Refused is true when the server refused the keys; false when there
	// was no key to offer.
	Refused bool
	// Err says what is wrong and what to do.
	Err error
}

func (e *AuthError) Error() string {
	if e.Refused {
		return fmt.Sprintf("log in to %s (%s) as %s: %v", e.Host, e.Addr, e.User, e.Err)
	}
	return fmt.Sprintf("connect to %s (%s): %v", e.Host, e.Addr, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// auth holds the keys offered when logging in: the identity file first,
// then the agent's.
type auth struct {
	identity     ssh.Signer // nil when there is none
	identityFile string
	agent        agent.ExtendedAgent
	agentConn    net.Conn
	agentKeys    int
}

// newAuth loads cfg.IdentityFile and connects to cfg.Agent.
func newAuth(cfg SSHConfig) (*auth, error) {
	a := &auth{identityFile: cfg.IdentityFile}
	if cfg.Agent != "" {
		conn, err := net.Dial("unix", cfg.Agent)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent at %s (SSH_AUTH_SOCK): %w; start the agent or unset SSH_AUTH_SOCK", cfg.Agent, err)
		}
		a.agentConn, a.agent = conn, agent.NewClient(conn)
	}
	if cfg.IdentityFile != "" {
		signer, err := loadIdentity(cfg.IdentityFile, cfg.Passphrase)
		switch {
		case errors.Is(err, fs.ErrNotExist) && a.agent != nil:
			a.identityFile = "" // like ssh: a missing default key is fine with an agent
		case err != nil:
			a.close()
			return nil, err
		default:
			a.identity = signer
		}
	}
	if a.identity == nil && a.agent == nil {
		return nil, errors.New("no key to log in with: set ssh.identity_file or start ssh-agent (SSH_AUTH_SOCK)")
	}
	return a, nil
}

func loadIdentity(path string, passphrase func(string) ([]byte, error)) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("identity file %s does not exist; create a key (ssh-keygen -t ed25519 -f %s) or set ssh.identity_file: %w", path, path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("identity file %s is encrypted: load it into ssh-agent (ssh-add %s) or run on a terminal to type the passphrase", path, path)
		}
		pass, perr := passphrase(path)
		if perr != nil {
			return nil, fmt.Errorf("passphrase for %s: %w", path, perr)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("identity file %s: wrong passphrase", path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w; it must be an OpenSSH or PEM private key", path, err)
	}
	return signer, nil
}

// signers is the ssh.PublicKeysCallback: identity file first, then agent.
func (a *auth) signers() ([]ssh.Signer, error) {
	var out []ssh.Signer
	if a.identity != nil {
		out = append(out, a.identity)
	}
	if a.agent != nil {
		keys, err := a.agent.Signers()
		if err == nil {
			a.agentKeys = len(keys)
			out = append(out, keys...)
		}
	}
	return out, nil
}

// describe names the keys offered, for the login error.
func (a *auth) describe() string {
	var s string
	if a.identity != nil {
		s = fmt.Sprintf("identity file %s, %s", a.identityFile, ssh.FingerprintSHA256(a.identity.PublicKey()))
	}
	if a.agent != nil {
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("%d ssh-agent key(s)", a.agentKeys)
	}
	return s
}

func (a *auth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}
