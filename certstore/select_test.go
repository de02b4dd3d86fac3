package certstore

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

func TestSelectBySNI(t *testing.T) {
	ca := newCA(t)
	other := ca.issue(t, 0x07, valid, "other.test")
	site := ca.issue(t, 0x1a, valid, "a.example.com")
	wild := ca.issue(t, 0x2b, valid, "*.example.com")
	def := ca.issue(t, 0x3c, valid, "fallback.test")

	// "apex" sorts first, before "default" too: it is the default only
	// without a "default" directory.
	plain := t.TempDir()
	writePair(t, plain, "apex", other)
	writePair(t, plain, "site", site)
	writePair(t, plain, "wildcard", wild)
	withDefault := t.TempDir()
	writePair(t, withDefault, "apex", other)
	writePair(t, withDefault, "site", site)
	writePair(t, withDefault, "wildcard", wild)
	writePair(t, withDefault, DefaultName, def)

	plainSrv := serve(t, open(t, plain))
	defaultSrv := serve(t, open(t, withDefault))

	tests := []struct {
		name      string
		srv       *server
		sni       string
		want      string // serial
		checkName bool   // the served certificate must be valid for sni
	}{
		{"exact name wins over wildcard", plainSrv, "a.example.com", site.serial, true},
		{"exact name is case-insensitive", plainSrv, "A.Example.COM", site.serial, true},
		{"wildcard matches one label", plainSrv, "b.example.com", wild.serial, true},
		{"wildcard is case-insensitive", plainSrv, "B.EXAMPLE.com", wild.serial, true},
		{"wildcard does not match two labels", plainSrv, "x.a.example.com", other.serial, false},
		{"wildcard does not match the bare domain", plainSrv, "example.com", other.serial, false},
		{"another certificate by exact name", plainSrv, "other.test", other.serial, true},
		{"unknown name gets the first directory", plainSrv, "unknown.test", other.serial, false},
		{"no SNI gets the first directory", plainSrv, "", other.serial, false},
		{"unknown name gets the default directory", defaultSrv, "unknown.test", def.serial, false},
		{"no SNI gets the default directory", defaultSrv, "", def.serial, false},
		{"exact name still wins with a default", defaultSrv, "a.example.com", site.serial, true},
		{"wildcard still wins over a default", defaultSrv, "c.example.com", wild.serial, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := tt.srv.dial(t, ca, tt.sni)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := leaf.SerialNumber.Text(16); got != tt.want {
				t.Errorf("served serial %s (%v), want %s", got, leaf.DNSNames, tt.want)
			}
			if tt.checkName {
				if err := leaf.VerifyHostname(tt.sni); err != nil {
					t.Errorf("served certificate is not valid for %q: %v", tt.sni, err)
				}
			}
		})
	}
}

func TestSelectDuplicateNames(t *testing.T) {
	ca := newCA(t)
	expired := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		first  pair // in directory "a"
		second pair // in directory "b"
		want   int  // 0: first, 1: second
	}{
		{"the directory that sorts first wins",
			ca.issue(t, 0x10, valid, "a.example.com"), ca.issue(t, 0x11, valid, "a.example.com"), 0},
		{"a valid certificate beats an expired one",
			ca.issue(t, 0x12, expired, "a.example.com"), ca.issue(t, 0x13, valid, "a.example.com"), 1},
		{"a valid wildcard beats an expired one",
			ca.issue(t, 0x14, expired, "*.example.com"), ca.issue(t, 0x15, valid, "*.example.com"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePair(t, dir, "a", tt.first)
			writePair(t, dir, "b", tt.second)
			want := []pair{tt.first, tt.second}[tt.want].serial
			leaf, err := serve(t, open(t, dir)).dial(t, ca, "a.example.com")
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := leaf.SerialNumber.Text(16); got != want {
				t.Errorf("served serial %s, want %s", got, want)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	writePair(t, dir, "site", ca.issue(t, 0x20, valid, "a.example.com"))
	s := open(t, dir)
	if got := s.TLSConfig().MinVersion; got != tls.VersionTLS12 {
		t.Errorf("MinVersion %#x, want TLS 1.2 whatever crypto/tls defaults to", got)
	}
	srv := serve(t, s)
	tests := []struct {
		name      string
		cfg       *tls.Config
		wantProto string
		wantErr   string
	}{
		{"HTTP/2 is offered", &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, "h2", ""},
		{"HTTP/1.1 is offered", &tls.Config{NextProtos: []string{"http/1.1"}}, "http/1.1", ""},
		{"TLS 1.2 is accepted", &tls.Config{MaxVersion: tls.VersionTLS12}, "", ""},
		{"TLS 1.1 is refused", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
			"", "protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.ServerName = "a.example.com"
			cs, err := srv.handshake(ca, tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("handshake error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if cs.NegotiatedProtocol != tt.wantProto {
				t.Errorf("ALPN %q, want %q", cs.NegotiatedProtocol, tt.wantProto)
			}
		})
	}
}

func TestLookupNormalizesNames(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	site := ca.issue(t, 0x30, valid, "A.Example.com")
	writePair(t, dir, "site", site)
	writePair(t, dir, "0-first", ca.issue(t, 0x31, valid, "first.test"))
	s := open(t, dir)
	for _, name := range []string{"a.example.com", "a.example.com.", "A.EXAMPLE.COM"} {
		c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			t.Fatalf("GetCertificate(%q): %v", name, err)
		}
		if got := serial(c.Leaf); got != site.serial {
			t.Errorf("GetCertificate(%q) serial %s, want %s", name, got, site.serial)
		}
	}
}
