package sshtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/edgectl/edgectl/internal/netnstest"
	"github.com/edgectl/edgectl/remote"
)

// SSHD is the sshd binary Start runs.
const SSHD = "/usr/sbin/sshd"

// Options say where Start runs sshd. The zero value listens on 127.0.0.1
// and [::1] on a free port of the test's own network namespace.
type Options struct {
	// Netns runs sshd inside this namespace. Addrs then default to the
	// namespace's bridge addresses (or 127.0.0.1 and ::1 when it is not
	// bridged) and Port to 22. The test process reaches a bridged
	// namespace only from another namespace: set the SSHConfig's
	// DialContext to that namespace's DialContext.
	Netns *netnstest.NS
	// Addrs are the IP addresses sshd listens on, without port
	// ("127.0.0.1", "::1", "198.18.0.12"). The first is Server.Addr.
	Addrs []string
	// Port is the port on every address; 0 picks a free one (22 inside
	// Netns).
	Port int
	// HostKeyTypes are the host keys sshd gets, first one first:
	// "ed25519" (the default), "ecdsa" or "rsa".
	HostKeyTypes []string
}

// Server is a running sshd.
type Server struct {
	// Addr is host:port of the first listen address (IPv6 in brackets).
	Addr string
	// Addrs are host:port of every listen address.
	Addrs []string
	// HostKey is the first host key; HostKeys all of them, in
	// Options.HostKeyTypes order.
	HostKey  ssh.PublicKey
	HostKeys []ssh.PublicKey
	// HostKeyFingerprint is HostKey's SHA256:… fingerprint.
	HostKeyFingerprint string
	// User is the user to log in as: the one running the test (root).
	User string
	// IdentityFile is an unencrypted ed25519 private key (0600) that
	// authorized_keys accepts; ClientKey is the same key.
	IdentityFile string
	ClientKey    ssh.Signer
	// KnownHostsFile lists every host key for every address in Addrs, in
	// OpenSSH format ("[127.0.0.1]:2222 ssh-ed25519 AAAA…").
	KnownHostsFile string
	// Dir is the server's private directory (config, keys, log).
	Dir string

	authorized string
	pid        int
	mu         sync.Mutex // authorized_keys appends
}

// Start runs sshd for the test and returns once every address accepts SSH
// connections. It is killed, with the sessions it started, when the test
// ends. Start skips the test without root or without sshd, and fails it when
// sshd does not come up. Any number of servers can run at once.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if reason := unavailable(); reason != "" {
		t.Skip(reason)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	dir := t.TempDir()
	s := &Server{User: u.Username, Dir: dir, authorized: filepath.Join(dir, "authorized_keys")}

	types := opts.HostKeyTypes
	if len(types) == 0 {
		types = []string{"ed25519"}
	}
	var hostKeyFiles []string
	for _, typ := range types {
		path := filepath.Join(dir, "ssh_host_"+typ+"_key")
		pub, err := writeKey(path, typ)
		if err != nil {
			t.Fatalf("sshtest: host key: %v", err)
		}
		hostKeyFiles = append(hostKeyFiles, path)
		s.HostKeys = append(s.HostKeys, pub)
	}
	s.HostKey = s.HostKeys[0]
	s.HostKeyFingerprint = ssh.FingerprintSHA256(s.HostKey)

	s.IdentityFile = filepath.Join(dir, "id_ed25519")
	clientPub, err := writeKey(s.IdentityFile, "ed25519")
	if err != nil {
		t.Fatalf("sshtest: client key: %v", err)
	}
	if s.ClientKey, err = loadSigner(s.IdentityFile); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := s.Authorize(clientPub); err != nil {
		t.Fatalf("sshtest: %v", err)
	}

	ips, err := listenIPs(opts)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := opts.Port
		if port == 0 && opts.Netns != nil {
			port = 22
		}
		if port == 0 {
			if port, err = freePort(ips); err != nil {
				t.Fatalf("sshtest: %v", err)
			}
		}
		s.Addrs = s.Addrs[:0]
		for _, ip := range ips {
			s.Addrs = append(s.Addrs, net.JoinHostPort(ip, strconv.Itoa(port)))
		}
		s.Addr = s.Addrs[0]
		if lastErr = s.start(t, opts.Netns, hostKeyFiles); lastErr == nil {
			break
		}
		if opts.Port != 0 || opts.Netns != nil || !errors.Is(lastErr, errAddrInUse) {
			t.Fatalf("sshtest: %v", lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("sshtest: %v", lastErr)
	}

	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	var kh strings.Builder
	for _, k := range s.HostKeys {
		var names []string
		for _, a := range s.Addrs {
			names = append(names, knownhosts.Normalize(a))
		}
		kh.WriteString(knownhosts.Line(names, k) + "\n")
	}
	if err := os.WriteFile(s.KnownHostsFile, []byte(kh.String()), 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return s
}

// Config returns an SSHConfig that logs in to the server as s.User with
// s.IdentityFile, checking the host key against s.KnownHostsFile. name is
// the host name used in messages.
func (s *Server) Config(name string) remote.SSHConfig {
	return remote.SSHConfig{
		Name:           name,
		Addr:           s.Addr,
		User:           s.User,
		IdentityFile:   s.IdentityFile,
		KnownHosts:     s.KnownHostsFile,
		ConnectTimeout: 10 * time.Second,
	}
}

// Authorize adds a public key to the server's authorized_keys.
func (s *Server) Authorize(pub ssh.PublicKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.authorized, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(ssh.MarshalAuthorizedKey(pub))
	return errors.Join(err, f.Close())
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	return string(b)
}

func unavailable() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("needs root: sshtest runs sshd, which only logs in other users as root (euid %d)", os.Geteuid())
	}
	if _, err := os.Stat(SSHD); err != nil {
		return "needs " + SSHD + ": apt-get install openssh-server"
	}
	return ""
}

func listenIPs(opts Options) ([]string, error) {
	if len(opts.Addrs) > 0 {
		for _, a := range opts.Addrs {
			if _, err := netip.ParseAddr(a); err != nil {
				return nil, fmt.Errorf("Options.Addrs: %q is not an IP address (no port, no brackets)", a)
			}
		}
		return opts.Addrs, nil
	}
	if ns := opts.Netns; ns != nil && (ns.IPv4().IsValid() || ns.IPv6().IsValid()) {
		var ips []string
		for _, a := range []netip.Addr{ns.IPv4(), ns.IPv6()} {
			if a.IsValid() {
				ips = append(ips, a.String())
			}
		}
		return ips, nil
	}
	return []string{"127.0.0.1", "::1"}, nil
}

// freePort returns a port that is free on every ip right now.
func freePort(ips []string) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		free := true
		for _, ip := range ips[1:] {
			l2, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			l2.Close()
		}
		ln.Close()
		if free {
			return port, nil
		}
	}
	return 0, errors.New("no port free on all of " + strings.Join(ips, ", "))
}
