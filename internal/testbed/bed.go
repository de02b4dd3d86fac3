package testbed

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// HostSpec describes one VPS. At least one of IPv4 and IPv6 must be set.
type HostSpec struct {
	// Name is the host's name in fleet.yaml and its hostname: an RFC 1123 label.
	Name string `json:"name"`
	// IPv4 gives eth0 an IPv4 address and an IPv4 default route.
	IPv4 bool `json:"ipv4"`
	// IPv6 gives eth0 an IPv6 address and an IPv6 default route. Without it
	// IPv6 is disabled on eth0 (no link-local address either); lo keeps ::1.
	IPv6 bool `json:"ipv6"`
	// BindV6Only sets net.ipv6.bindv6only=1 in the host's namespace.
	BindV6Only bool `json:"bindv6only,omitempty"`
	// DisableIPv6 turns IPv6 off in the whole namespace, ::1 included.
	DisableIPv6 bool `json:"disable_ipv6,omitempty"`
}

// Default3 is the standard fleet of the e2e tests and the demo: vps1
// dual-stack, vps2 IPv6-only, vps3 IPv4-only with net.ipv6.bindv6only=1.
func Default3() []HostSpec {
	return []HostSpec{
		{Name: "vps1", IPv4: true, IPv6: true},
		{Name: "vps2", IPv6: true},
		{Name: "vps3", IPv4: true, BindV6Only: true},
	}
}

// DualStack returns n dual-stack hosts named vps1 … vpsN.
func DualStack(n int) []HostSpec {
	specs := make([]HostSpec, n)
	for i := range specs {
		specs[i] = HostSpec{Name: fmt.Sprintf("vps%d", i+1), IPv4: true, IPv6: true}
	}
	return specs
}

// Options say what [Start] boots.
type Options struct {
	// Hosts to boot, at most 200; see [Default3].
	Hosts []HostSpec
	// Dir is the run directory (keys, known_hosts, overlays, console logs,
	// state.json). It must not exist or be empty; [Bed.Close] removes it.
	// Default: a new directory under $TMPDIR.
	Dir string
	// BindRO maps a path on this machine to a path inside every VPS,
	// mounted read-only (e.g. a backend binary: {"/tmp/x/app": "/opt/app"}).
	BindRO map[string]string
	// BootTimeout bounds the wait for every host to answer SSH and reach
	// running or degraded. Default 60 s plus 4 s per host beyond 3.
	BootTimeout time.Duration
	// Owner is the process whose death makes the run a leftover for
	// [Cleanup]. Default: this process.
	Owner int
}

// Bed is a running fleet. Its methods are safe for concurrent use.
type Bed struct {
	// Hosts in the order of Options.Hosts.
	Hosts []*Host
	// IdentityFile is the run's client private key (root on every host).
	IdentityFile string
	// KnownHostsFile lists every host's key under each of its addresses.
	KnownHostsFile string
	// Dir is the run directory.
	Dir string
	// BaseBuild is how long building the base tree took (0: from the cache).
	BaseBuild time.Duration
	// BootTime is how long Start took to boot every host to running.
	BootTime time.Duration

	mu     sync.Mutex
	st     state
	closed bool
}

// Host is one running VPS.
type Host struct {
	// Name as in HostSpec.
	Name string
	// IPv4 and IPv6 are the host's addresses on eth0; empty for a family it
	// does not have.
	IPv4, IPv6 string
	// SSHAddr is host:port for SSH: the IPv4 address, else the IPv6 one.
	SSHAddr string
	// HostKeyFingerprint is the SHA256 fingerprint of the host's SSH key.
	HostKeyFingerprint string

	st   *hostState
	proc *process // nil when the host is off or was booted by another process
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (o *Options) validate() error {
	if len(o.Hosts) == 0 || len(o.Hosts) > 200 {
		return fmt.Errorf("testbed: %d hosts; give 1 to 200 in Options.Hosts", len(o.Hosts))
	}
	seen := map[string]bool{}
	for i, h := range o.Hosts {
		switch {
		case !labelRE.MatchString(h.Name):
			return fmt.Errorf("testbed: hosts[%d]: name %q must be lower-case letters, digits and '-'", i, h.Name)
		case seen[h.Name]:
			return fmt.Errorf("testbed: hosts[%d]: name %s is used twice", i, h.Name)
		case !h.IPv4 && !h.IPv6:
			return fmt.Errorf("testbed: host %s has neither IPv4 nor IPv6; set at least one", h.Name)
		case h.IPv6 && h.DisableIPv6:
			return fmt.Errorf("testbed: host %s has IPv6 and DisableIPv6; drop one", h.Name)
		}
		seen[h.Name] = true
	}
	for src, dst := range o.BindRO {
		if !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
			return fmt.Errorf("testbed: bind %s:%s: both paths must be absolute", src, dst)
		}
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("testbed: bind %s: %w", src, err)
		}
	}
	return nil
}

var cleanupOnce sync.Once

// Start builds the base tree if needed, then sets up the network and boots
// every host in parallel. It returns when every host answers SSH and
// systemctl is-system-running says running or degraded. On error nothing of
// the run is left behind.
func Start(ctx context.Context, opts Options) (*Bed, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := Check(); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	cleanupOnce.Do(func() { _ = Cleanup() }) // best effort; a failure shows up below
	base, err := EnsureBase(ctx, CacheDir())
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	owner := opts.Owner
	if owner == 0 {
		owner = os.Getpid()
	}
	prefix := runPrefix(owner)
	dir, err := makeRunDir(opts.Dir, prefix)
	if err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	b := &Bed{Dir: dir, BaseBuild: base.Built, st: state{
		Prefix: prefix, Owner: owner, Base: base.Path, BindRO: opts.BindRO, Bridge: bridgeName(prefix),
	}}
	b.IdentityFile = filepath.Join(dir, "id_ed25519")
	b.KnownHostsFile = filepath.Join(dir, "known_hosts")
	start := time.Now()
	if err := b.setUp(ctx, opts.Hosts); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 60*time.Second + time.Duration(max(0, len(opts.Hosts)-3))*4*time.Second
	}
	if err := b.bootAll(ctx, b.Hosts, timeout); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	b.BootTime = time.Since(start)
	return b, nil
}

func makeRunDir(dir, prefix string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "edgectl-testbed-"+prefix+"-")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("run directory %s is not empty; pick a new one, or run testbedctl down --dir %s if it holds a running testbed", dir, dir)
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// setUp creates the bridge, each host's network and keys, and known_hosts.
func (b *Bed) setUp(ctx context.Context, specs []HostSpec) error {
	k, err := createBridge(ctx, b.st.Bridge)
	if err != nil {
		return err
	}
	b.st.K = k
	if _, err := writeKey(b.IdentityFile, "edgectl-testbed-"+b.st.Prefix); err != nil {
		return fmt.Errorf("client key: %w", err)
	}
	var known string
	for i, spec := range specs {
		hs := &hostState{Spec: spec, Net: hostNet{NS: netnsName(b.st.Prefix, i), Veth: vethName(b.st.Prefix, i)}}
		if spec.IPv4 {
			hs.Net.IPv4 = v4(k, 11+i)
		}
		if spec.IPv6 {
			hs.Net.IPv6 = v6(k, 11+i)
		}
		hs.UUID = newUUID()
		b.st.Hosts = append(b.st.Hosts, hs)
		h := b.newHost(hs)
		b.Hosts = append(b.Hosts, h)
		if err := createHostNet(spec, hs.Net, b.st.Bridge, k); err != nil {
			return err
		}
		hd := b.hostDir(h)
		key, err := writeKey(filepath.Join(hd, "ssh_host_ed25519_key"), "root@"+spec.Name)
		if err != nil {
			return fmt.Errorf("host %s: host key: %w", spec.Name, err)
		}
		hs.Fingerprint = ssh.FingerprintSHA256(key)
		h.HostKeyFingerprint = hs.Fingerprint
		if err := writeFile(filepath.Join(hd, "sshd.conf"), []byte(sshdDropIn), 0o644); err != nil {
			return err
		}
		known += knownHostsLines([]string{hs.Net.IPv4, hs.Net.IPv6}, "22", key)
	}
	if err := writeFile(b.KnownHostsFile, []byte(known), 0o644); err != nil {
		return err
	}
	return b.save()
}

func (b *Bed) newHost(hs *hostState) *Host {
	h := &Host{Name: hs.Spec.Name, IPv4: hs.Net.IPv4, IPv6: hs.Net.IPv6, HostKeyFingerprint: hs.Fingerprint, st: hs}
	addr := h.IPv4
	if addr == "" {
		addr = h.IPv6
	}
	h.SSHAddr = net.JoinHostPort(addr, "22")
	return h
}

// Host returns the host called name, or nil.
func (b *Bed) Host(name string) *Host {
	for _, h := range b.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (b *Bed) host(name string) (*Host, error) {
	if h := b.Host(name); h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("testbed: no host %q in this run", name)
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
