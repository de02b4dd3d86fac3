package fleet

import (
	"time"

	"github.com/edgectl/edgectl/agentconfig"
)

// Fleet is the whole of fleet.yaml.
type Fleet struct {
	// SSH is how deploy, cert and diagnose reach every host.
	SSH SSH `yaml:"ssh"`
	// Hosts are the machines of the fleet, in rollout order. At least one
	// is required; names and addresses must be unique.
	Hosts []Host `yaml:"hosts"`
	// Domains are the public names the fleet serves, such as
	// api.example.com. They go into the one certificate issued for the
	// whole fleet and are checked by sweep against DNS. "*.example.com" is
	// allowed and needs acme.challenge: dns-01.
	Domains []string `yaml:"domains"`
	// Resolver is the DNS server (host:port, e.g. "1.1.1.1:53" or
	// "[2606:4700:4700::1111]:53") for pre-flight and sweep checks. Empty
	// (the default) uses the system resolver; --resolver overrides it.
	Resolver string `yaml:"resolver"`
	// ACME is the certificate account used by edgectl cert.
	ACME ACME `yaml:"acme"`
	// Agent is agent.yaml, rendered onto every host; every agent.yaml key
	// is allowed and its defaults apply (see package agentconfig). The
	// default is an agent with no upstreams listening on [::]:80.
	Agent agentconfig.Config `yaml:"agent"`
	// AgentYAML is the agent: section written out as agent.yaml, with
	// ${VAR} expanded and aliases resolved: what deploy puts on every
	// host. Nil when fleet.yaml has no agent: section (all defaults).
	AgentYAML []byte `yaml:"-"`
	// Backend is an optional application service installed next to the
	// agent as its own systemd unit. Nil when the key is absent.
	Backend *Backend `yaml:"backend"`
	// Endpoints is the client failover list written to every host's
	// endpoints.txt. Empty lists (the default) mean: domains, then every
	// host's addresses.
	Endpoints Endpoints `yaml:"endpoints"`
	// Rollout controls how deploy moves through the hosts.
	Rollout Rollout `yaml:"rollout"`
	// Sweep configures edgectl sweep's probes and alerts.
	Sweep Sweep `yaml:"sweep"`
	// DNS makes the round-robin records follow health (edgectl dns, sweep
	// --dns). Nil when the key is absent.
	DNS *DNS `yaml:"dns"`
	// Alerts are where sweep's transitions and DNS changes are sent.
	Alerts []Alert `yaml:"alerts"`
}

// SSH is the connection used for every host.
type SSH struct {
	// User to log in as (default root).
	User string `yaml:"user"`
	// Port is the SSH port (default 22); a host's ssh_address may name
	// another port.
	Port int `yaml:"port"`
	// IdentityFile is the private key (default ~/.ssh/id_ed25519). The
	// ssh-agent is used as well when SSH_AUTH_SOCK is set; write
	// identity_file: "" to use only the agent.
	IdentityFile string `yaml:"identity_file"`
	// KnownHosts is the known_hosts file host keys are checked against
	// (default ~/.ssh/known_hosts). Host keys are always verified;
	// deploy --accept-new adds keys of hosts not yet listed.
	KnownHosts string `yaml:"known_hosts"`
	// Jump is an optional bastion, [user@]host[:port]: IPv6 literals in
	// brackets when a port follows ("ops@[2001:db8::1]:2222"). The user
	// defaults to ssh.user and the port to 22.
	Jump string `yaml:"jump"`
}

// Host is one machine of the fleet.
type Host struct {
	// Name identifies the host in output and in --hosts: letters, digits
	// and hyphens, at most 63, not starting or ending with a hyphen
	// (an RFC 1123 label).
	Name string `yaml:"name"`
	// IPv4 is the host's public IPv4 address, if it has one.
	IPv4 string `yaml:"ipv4"`
	// IPv6 is the host's public IPv6 address, if it has one.
	IPv6 string `yaml:"ipv6"`
	// SSHAddress is where SSH connects when it is not the public address:
	// an IP or a hostname, optionally with a port ("198.51.100.5:2222",
	// "[2001:db8::5]:2222", "edge-1.internal"). Default: ipv4, else ipv6,
	// on ssh.port. A host needs at least one of ipv4, ipv6, ssh_address.
	SSHAddress string `yaml:"ssh_address"`
	// Labels group hosts for --label: letters, digits, '-', '_' and '.',
	// starting and ending with a letter or digit, at most 63.
	Labels []string `yaml:"labels"`
}

// ACME is the account that issues the fleet's certificate.
type ACME struct {
	// Email is the ACME account contact (optional; expiry notices).
	Email string `yaml:"email"`
	// Directory is the CA's ACME directory URL (default Let's Encrypt
	// production, https://acme-v02.api.letsencrypt.org/directory; cert
	// --staging switches to Let's Encrypt staging).
	Directory string `yaml:"directory"`
	// Challenge is http-01 (default: tokens served by the agent on every
	// host) or dns-01 (needed for *.domain certificates).
	Challenge string `yaml:"challenge"`
	// DNSProvider is the lego DNS provider for dns-01, such as cloudflare
	// or route53; its credentials come from the environment variables that
	// lego documents for it.
	DNSProvider string `yaml:"dns_provider"`
	// CACertificates is a PEM file of extra trusted roots for a private or
	// test CA. LEGO_CA_CERTIFICATES is honoured too.
	CACertificates string `yaml:"ca_certificates"`
	// DirectoryDefaulted is true when the file named no directory, so
	// Directory is the default, Let's Encrypt production: cert says so
	// before it places an order there.
	DirectoryDefaulted bool `yaml:"-"`
}

// Endpoints overrides the client failover list.
type Endpoints struct {
	// Domains listed first, in order (default: the fleet's domains,
	// without wildcards).
	Domains []string `yaml:"domains"`
	// IPs listed after the domains (default: every host's ipv4 and ipv6).
	IPs []string `yaml:"ips"`
}

// Rollout controls a rolling deploy.
type Rollout struct {
	// Batch is how many hosts are upgraded at once (default 1).
	Batch int `yaml:"batch"`
	// HealthTimeout is how long a host gets to become healthy after an
	// upgrade before it is rolled back (default 30s).
	HealthTimeout time.Duration `yaml:"health_timeout"`
	// Drain is how long a host keeps serving with health answering 503
	// before it is restarted (default 10s; 0s restarts at once).
	Drain time.Duration `yaml:"drain"`
	// DNSDrain takes each host's addresses out of the dns: names before it
	// is deployed, waits the records' TTL, and puts them back after its
	// gate passed (default false; needs dns:).
	DNSDrain bool `yaml:"dns_drain"`
}

// Sweep configures the fleet health sweep.
type Sweep struct {
	// Scheme is https (default) or http, for fleets without TLS.
	Scheme string `yaml:"scheme"`
	// Port probed on every address; 0 (the default) means the agent's
	// TLS listener port for https, its plain HTTP port for http.
	Port int `yaml:"port"`
	// HealthPath requested on every host (default /health).
	HealthPath string `yaml:"health_path"`
	// Timeout of one probe (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// FailAfter consecutive failed sweeps raise an alert (default 3).
	FailAfter int `yaml:"fail_after"`
	// RecoverAfter consecutive passing sweeps clear it (default 2).
	RecoverAfter int `yaml:"recover_after"`
	// AlertWebhook receives a JSON POST when a host goes down or recovers
	// (optional). Keep it in the environment: ${EDGECTL_ALERT_WEBHOOK}. It
	// is one more webhook entry of alerts:.
	AlertWebhook string `yaml:"alert_webhook"`
}
