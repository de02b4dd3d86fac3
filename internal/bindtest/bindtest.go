// Package bindtest runs a real BIND (Debian's named) as the primary of a
// test zone: in the foreground, from a scratch directory, on a free port,
// accepting RFC 2136 updates and zone transfers signed with a TSIG key.
// Tests of the rfc2136 records provider and the end-to-end tests of records
// that follow health use it; without named they skip with the reason.
package bindtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgectl/edgectl/internal/syncbuf"
)

// Options say what zone to serve and where.
type Options struct {
	// Zone is the zone's name (default example.test).
	Zone string
	// Records are zone file lines below the SOA and NS, relative to the
	// zone, e.g. "api 60 IN A 198.18.0.11".
	Records []string
	// Listen are the addresses named listens on (default 127.0.0.1); the
	// port is chosen free on the first.
	Listen []string
	// Port, when set, is used instead of a free one.
	Port int
	// Netns runs named in this network namespace (ip netns exec).
	Netns string
	// Dial, when set, opens the connections of the readiness check and
	// Lookup (for a server in another namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is a running named.
type Server struct {
	// Addr is host:port of the first listen address.
	Addr string
	// Zone is the zone's name, without the final dot.
	Zone string
	// KeyName, Secret (base64) and Algorithm are the TSIG key that may
	// update and transfer the zone.
	KeyName, Secret, Algorithm string
	// Dir is the scratch directory (named.conf, the zone, the log).
	Dir string

	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Start runs named for t and stops it when t ends. It skips t when named is
// not installed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	named, err := exec.LookPath("named")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/named"); statErr != nil {
			t.Skip("named (BIND) is not installed: apt-get install bind9 bind9-dnsutils to run this test against a real DNS primary")
		}
		named = "/usr/sbin/named"
	}
	if o.Zone == "" {
		o.Zone = "example.test"
	}
	if len(o.Listen) == 0 {
		o.Listen = []string{"127.0.0.1"}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &Server{Zone: o.Zone, KeyName: "edgectl-test.", Secret: base64.StdEncoding.EncodeToString(secret),
		Algorithm: "hmac-sha256", Dir: t.TempDir(), log: &syncbuf.Buffer{}, done: make(chan struct{}), dial: o.Dial}
	port := o.Port
	for attempt := 0; ; attempt++ {
		if o.Port == 0 {
			port = freePort(t, o.Listen[0], o.Netns)
		}
		s.Addr = net.JoinHostPort(o.Listen[0], strconv.Itoa(port))
		if err := s.write(o, port); err != nil {
			t.Fatal(err)
		}
		err := s.start(t, named, o.Netns)
		if err == nil {
			break
		}
		if attempt == 2 || o.Port != 0 {
			t.Fatalf("named did not start: %v\n%s", err, s.log.String())
		}
	}
	t.Cleanup(s.stop)
	return s
}

func (s *Server) write(o Options, port int) error {
	var v4, v6 []string
	for _, a := range o.Listen {
		if netip.MustParseAddr(a).Is4() {
			v4 = append(v4, a+";")
		} else {
			v6 = append(v6, a+";")
		}
	}
	if len(v6) == 0 {
		v6 = []string{"none;"}
	}
	if len(v4) == 0 {
		v4 = []string{"none;"}
	}
	conf := fmt.Sprintf(`key "%[1]s" { algorithm %[2]s; secret "%[3]s"; };
controls { };
options {
	directory "%[4]s";
	pid-file "%[4]s/named.pid";
	session-keyfile "%[4]s/session.key";
	managed-keys-directory "%[4]s";
	listen-on port %[5]d { %[6]s };
	listen-on-v6 port %[5]d { %[7]s };
	recursion no;
	dnssec-validation no;
	notify no;
};
zone "%[8]s" {
	type primary;
	file "%[4]s/zone.db";
	allow-update { key "%[1]s"; };
	allow-transfer { key "%[1]s"; };
};
`, s.KeyName, s.Algorithm, s.Secret, s.Dir, port, strings.Join(v4, " "), strings.Join(v6, " "), o.Zone)
	ns := o.Listen[0]
	nsType := "A"
	if netip.MustParseAddr(ns).Is6() {
		nsType = "AAAA"
	}
	zone := fmt.Sprintf("$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN %s %s\n%s\n",
		o.Zone, nsType, ns, strings.Join(o.Records, "\n"))
	_ = os.Remove(filepath.Join(s.Dir, "zone.db.jnl"))
	if err := os.WriteFile(filepath.Join(s.Dir, "named.conf"), []byte(conf), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "zone.db"), []byte(zone), 0o600)
}

func (s *Server) start(t testing.TB, named, netns string) error {
	args := []string{"-g", "-c", filepath.Join(s.Dir, "named.conf")}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	name := named
	if netns != "" {
		args = append([]string{"netns", "exec", netns, named}, args...)
		name = "ip"
	}
	s.cmd = exec.Command(name, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("named exited")
		default:
		}
		if _, err := s.query(s.Zone, dns.TypeSOA); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("named did not answer within 15s")
}

func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Env is the environment of the rfc2136 provider for this server's key.
func (s *Server) Env() map[string]string {
	return map[string]string{"RFC2136_TSIG_KEY": s.KeyName, "RFC2136_TSIG_SECRET": s.Secret, "RFC2136_TSIG_ALGORITHM": s.Algorithm}
}

// Log is named's output so far.
func (s *Server) Log() string { return s.log.String() }

// Lookup asks the server for name's records of type qtype (dns.TypeA,
// dns.TypeAAAA) and returns their addresses, sorted.
func (s *Server) Lookup(t testing.TB, name string, qtype uint16) []string {
	t.Helper()
	in, err := s.query(name, qtype)
	if err != nil {
		t.Fatalf("ask %s for %s: %v", s.Addr, name, err)
	}
	var out []string
	for _, rr := range in.Answer {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var in *dns.Msg
	var err error
	if s.dial == nil {
		c := &dns.Client{Timeout: time.Second}
		in, _, err = c.ExchangeContext(ctx, m, s.Addr)
	} else {
		var conn net.Conn
		if conn, err = s.dial(ctx, "tcp", s.Addr); err == nil {
			co := &dns.Conn{Conn: conn}
			_ = conn.SetDeadline(time.Now().Add(time.Second))
			if err = co.WriteMsg(m); err == nil {
				in, err = co.ReadMsg()
			}
			conn.Close()
		}
	}
	if err == nil && in.Rcode != dns.RcodeSuccess {
		err = fmt.Errorf("rcode %s", dns.RcodeToString[in.Rcode])
	}
	return in, err
}

// freePort finds a port free for both UDP and TCP on host (in netns, when
// set, by asking the kernel there through ip netns exec is not possible
// from Go: a random high port is used instead).
func freePort(t testing.TB, host, netns string) int {
	if netns != "" {
		var b [2]byte
		_, _ = rand.Read(b[:])
		return 20000 + int(b[0])<<8%20000 + int(b[1])
	}
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port for named")
	return 0
}
