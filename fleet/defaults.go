package fleet

import (
	"strings"
	"time"
)

// Defaults of fleet.yaml (docs/fleet.md).
const (
	DefaultSSHUser           = "root"
	DefaultSSHPort           = 22
	DefaultIdentityFile      = "~/.ssh/id_ed25519"
	DefaultKnownHosts        = "~/.ssh/known_hosts"
	DefaultACMEDirectory     = "https://acme-v02.api.letsencrypt.org/directory"
	DefaultChallenge         = ChallengeHTTP01
	DefaultBatch             = 1
	DefaultHealthTimeout     = 30 * time.Second
	DefaultDrain             = 10 * time.Second
	DefaultSweepScheme       = "https"
	DefaultSweepHealthPath   = "/health"
	DefaultSweepTimeout      = 5 * time.Second
	DefaultSweepFailAfter    = 3
	DefaultSweepRecoverAfter = 2
)

// ACME challenge types.
const (
	ChallengeHTTP01 = "http-01"
	ChallengeDNS01  = "dns-01"
)

// applyDefaults fills what the file left out. present reports whether a
// dotted path was written with a non-null value: numbers and durations that
// were written are kept as written (and validated), so "drain: 0s" means no
// drain and "batch: 0" is reported rather than replaced. Empty strings get
// their default, except identity_file: "" (ssh-agent only).
func (f *Fleet) applyDefaults(present func(path string) bool) {
	def(&f.SSH.User, DefaultSSHUser)
	if !present("ssh.port") {
		f.SSH.Port = DefaultSSHPort
	}
	if !present("ssh.identity_file") {
		f.SSH.IdentityFile = DefaultIdentityFile
	}
	def(&f.SSH.KnownHosts, DefaultKnownHosts)
	f.ACME.DirectoryDefaulted = f.ACME.Directory == ""
	def(&f.ACME.Directory, DefaultACMEDirectory)
	def(&f.ACME.Challenge, DefaultChallenge)
	if !present("rollout.batch") {
		f.Rollout.Batch = DefaultBatch
	}
	if !present("rollout.health_timeout") {
		f.Rollout.HealthTimeout = DefaultHealthTimeout
	}
	if !present("rollout.drain") {
		f.Rollout.Drain = DefaultDrain
	}
	if f.Backend != nil {
		f.Backend.applyDefaults(present)
	}
	def(&f.Sweep.Scheme, DefaultSweepScheme)
	def(&f.Sweep.HealthPath, DefaultSweepHealthPath)
	if !present("sweep.timeout") {
		f.Sweep.Timeout = DefaultSweepTimeout
	}
	if !present("sweep.fail_after") {
		f.Sweep.FailAfter = DefaultSweepFailAfter
	}
	if !present("sweep.recover_after") {
		f.Sweep.RecoverAfter = DefaultSweepRecoverAfter
	}
	f.applyDNSDefaults(present)
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// homePaths lists the path fields where a leading ~ stands for $HOME.
func (f *Fleet) homePaths() []struct {
	path string
	p    *string
} {
	return []struct {
		path string
		p    *string
	}{
		{"ssh.identity_file", &f.SSH.IdentityFile},
		{"ssh.known_hosts", &f.SSH.KnownHosts},
		{"acme.ca_certificates", &f.ACME.CACertificates},
	}
}

// expandHome replaces a leading "~" or "~/" in each path field with home.
// It returns an issue for a ~ it cannot expand: ~user, or no $HOME.
func (f *Fleet) expandHome(home string, haveHome bool) []Issue {
	var is []Issue
	for _, hp := range f.homePaths() {
		v := *hp.p
		if !strings.HasPrefix(v, "~") {
			continue
		}
		switch {
		case v != "~" && !strings.HasPrefix(v, "~/"):
			is = append(is, Issue{Path: hp.path, Msg: "only ~/ is expanded, not ~user/; write the full path of " + quote(v)})
		case !haveHome || home == "":
			is = append(is, Issue{Path: hp.path, Msg: quote(v) + " needs $HOME to expand ~, and HOME is not set; set HOME or write an absolute path"})
		default:
			*hp.p = strings.TrimSuffix(home, "/") + strings.TrimPrefix(v, "~")
		}
	}
	return is
}
