package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Defaults for SSHConfig.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 15 * time.Second
)

// SSHConfig says how to reach one host over SSH. Host keys are always
// checked against KnownHosts.
type SSHConfig struct {
	// Name is the host's name in messages (the fleet name).
	Name string
	// Addr is host:port to connect to, IPv6 literals in brackets
	// ("[2001:db8::5]:22").
	Addr string
	// User to log in as.
	User string
	// IdentityFile is the private key to offer; "" offers none (only the
	// agent's keys). A missing file is an error unless Agent is set.
	IdentityFile string
	// KnownHosts is the OpenSSH known_hosts file host keys are checked
	// against. Required.
	KnownHosts string
	// AcceptNew appends the key of a host that KnownHosts does not list
	// yet (creating the file 0600 and its directory 0700). A key that
	// differs from a listed one is never accepted.
	AcceptNew bool
	// KnownHostsReadOnly makes AcceptNew trust an unknown key for this
	// connection only, without writing KnownHosts (a dry run changes
	// nothing anywhere). SSH.AcceptedKey says which key it was.
	KnownHostsReadOnly bool
	// Jump is an optional bastion, "user@host:port": the connection to
	// Addr is tunnelled through it. Its host key is checked the same way.
	Jump string
	// ConnectTimeout bounds connecting, including the jump host and the
	// SSH handshake (default 10s).
	ConnectTimeout time.Duration
	// KeepAlive is how often a keepalive@openssh.com request is sent; a
	// connection that does not answer within one interval is closed
	// (default 15s; negative disables).
	KeepAlive time.Duration
	// Passphrase is asked for the passphrase of an encrypted IdentityFile.
	// Nil makes an encrypted key an error that says to use ssh-agent.
	Passphrase func(path string) ([]byte, error)
	// Agent is the ssh-agent socket whose keys are offered too (ConfigFor
	// sets it from SSH_AUTH_SOCK); "" uses no agent.
	Agent string
	// DialContext opens the TCP connection to Addr (or to the jump host);
	// nil uses net.Dialer. Tests plug a network namespace in here.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c SSHConfig) withDefaults() SSHConfig {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.Name == "" {
		c.Name = c.Addr
	}
	if c.DialContext == nil {
		c.DialContext = (&net.Dialer{}).DialContext
	}
	return c
}

// SSH is a host reached over one SSH connection. It is safe for concurrent
// use: every Run opens its own session, and file operations share one SFTP
// client.
type SSH struct {
	name   string
	addr   string
	client *ssh.Client
	jump   *ssh.Client // nil without a jump host

	mu       sync.Mutex
	sc       *sftp.Client
	closed   chan struct{}
	once     sync.Once
	accepted string // fingerprint of an unknown host key AcceptNew took
}

// AcceptedKey is the SHA256 fingerprint of the host key this connection
// accepted because KnownHosts did not list it (SSHConfig.AcceptNew), or ""
// when the key was already known.
func (s *SSH) AcceptedKey() string { return s.accepted }

var _ Host = (*SSH)(nil)

// DialSSH connects and logs in to cfg.Addr (through cfg.Jump if set),
// verifying every host key against cfg.KnownHosts. A host key that is not
// known or has changed gives a *HostKeyError.
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	cfg = cfg.withDefaults()
	where := fmt.Sprintf("%s (%s)", cfg.Name, cfg.Addr)
	if cfg.Addr == "" {
		return nil, fmt.Errorf("connect to %s: no SSH address; set ipv4, ipv6 or ssh_address for the host", cfg.Name)
	}
	if cfg.KnownHosts == "" {
		return nil, fmt.Errorf("connect to %s: no known_hosts file set; host keys are always verified, set ssh.known_hosts", where)
	}
	a, err := newAuth(cfg)
	if err != nil {
		return nil, &AuthError{Host: cfg.Name, Addr: cfg.Addr, User: cfg.User, Err: err}
	}
	defer a.close()
	// Messages name the time that really applied: the caller's deadline
	// when it is nearer than ConnectTimeout.
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl).Round(100 * time.Millisecond); left < cfg.ConnectTimeout {
			cfg.ConnectTimeout = max(left, 100*time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()

	var jump *ssh.Client
	var conn net.Conn
	if cfg.Jump != "" {
		juser, jaddr, err := ParseTarget(cfg.Jump, cfg.User)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", where, err)
		}
		jname := "jump host of " + cfg.Name
		jconn, err := dialTCP(ctx, cfg, jname, jaddr)
		if err != nil {
			return nil, err
		}
		if jump, _, err = handshake(ctx, cfg, a, jconn, jname, jaddr, juser); err != nil {
			return nil, err
		}
		conn, err = jump.DialContext(ctx, "tcp", cfg.Addr)
		if err != nil {
			jump.Close()
			return nil, fmt.Errorf("connect to %s through %s: %w", where, jname, connectErr(ctx, cfg, openErr(err)))
		}
	} else if conn, err = dialTCP(ctx, cfg, cfg.Name, cfg.Addr); err != nil {
		return nil, err
	}
	client, accepted, err := handshake(ctx, cfg, a, conn, cfg.Name, cfg.Addr, cfg.User)
	if err != nil {
		if jump != nil {
			jump.Close()
		}
		return nil, err
	}
	s := &SSH{name: cfg.Name, addr: cfg.Addr, client: client, jump: jump, closed: make(chan struct{}), accepted: accepted}
	if cfg.KeepAlive > 0 {
		go s.keepAlive(cfg.KeepAlive)
	}
	return s, nil
}

func dialTCP(ctx context.Context, cfg SSHConfig, name, addr string) (net.Conn, error) {
	conn, err := cfg.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", name, addr, connectErr(ctx, cfg, err))
	}
	return conn, nil
}

// connectErr turns a timeout into a message naming the timeout.
func connectErr(ctx context.Context, cfg SSHConfig, err error) error {
	// The connection's own deadline (os.ErrDeadlineExceeded, "i/o timeout")
	// is the same deadline as ctx's and may fire a moment before it.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no answer within %v (%w); check the address, firewall and that sshd runs", cfg.ConnectTimeout, err)
	}
	return err
}

// handshake runs the SSH handshake and login over conn. accepted is the
// fingerprint of an unknown host key that AcceptNew took ("" if known).
func handshake(ctx context.Context, cfg SSHConfig, a *auth, conn net.Conn, name, addr, user string) (_ *ssh.Client, accepted string, _ error) {
	where := fmt.Sprintf("%s (%s)", name, addr)
	hk := &hostKeyCheck{file: cfg.KnownHosts, acceptNew: cfg.AcceptNew, readOnly: cfg.KnownHostsReadOnly, name: name, addr: addr}
	algs, err := hk.algorithms()
	if err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("connect to %s: %w", where, err)
	}
	ccfg := &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(a.signers)},
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: algs,
		Timeout:           cfg.ConnectTimeout,
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl) // a tunnelled conn has no deadlines; AfterFunc covers it
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, ccfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, "", fmt.Errorf("connect to %s: %w", where, connectErr(ctx, cfg, ctx.Err()))
	}
	if err != nil {
		conn.Close()
		var hke *HostKeyError
		if errors.As(err, &hke) {
			return nil, "", hke
		}
		if strings.Contains(err.Error(), "no common algorithm for host key") {
			if hke := hk.noCommonType(); hke != nil {
				return nil, "", hke
			}
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, "", &AuthError{Host: name, Addr: addr, User: user, Refused: true,
				Err: fmt.Errorf("the server accepted none of the keys offered (%s); add the public key to ~%s/.ssh/authorized_keys on the host, or set ssh.user / ssh.identity_file", a.describe(), user)}
		}
		return nil, "", fmt.Errorf("connect to %s: %w", where, connectErr(ctx, cfg, err))
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), hk.accepted, nil
}

// ParseTarget splits an SSH target, [user@]host[:port] with IPv6 literals
// in brackets when a port follows ("root@[2001:db8::5]:2222"), into the
// user (defUser when absent) and host:port (port 22 when absent).
func ParseTarget(target, defUser string) (user, addr string, err error) {
	user, hostport, found := strings.Cut(target, "@")
	if !found {
		user, hostport = defUser, target
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("ssh target %q: port %q is not 1-65535", target, port)
	}
	if user == "" || host == "" || strings.ContainsAny(host, "[]@/ ") {
		return "", "", fmt.Errorf("ssh target %q: want user@host[:port], e.g. root@198.18.0.11 or root@[2001:db8::5]:2222", target)
	}
	return user, net.JoinHostPort(host, port), nil
}

// Close closes the SFTP client, the connection and the jump connection.
func (s *SSH) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		s.mu.Lock()
		if s.sc != nil {
			s.sc.Close()
		}
		s.mu.Unlock()
		err = s.client.Close()
		if s.jump != nil {
			s.jump.Close()
		}
	})
	return err
}
