package dnsrecords

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"
)

// Record types this package handles.
const (
	TypeA    = "A"
	TypeAAAA = "AAAA"
)

// Record is one A or AAAA record.
type Record struct {
	// Name is the fully qualified name, lower case, without the final dot.
	Name string `json:"name"`
	// Type is A or AAAA.
	Type string `json:"type"`
	// Addr is the address the record holds.
	Addr netip.Addr `json:"address"`
	// TTL in seconds.
	TTL int `json:"ttl"`
	// ID is the provider's identifier of the record, when it has one
	// (filled in by List and Add; Delete finds the record without it).
	ID string `json:"-"`
}

// String is "api.example.com A 192.0.2.1".
func (r Record) String() string { return r.Name + " " + r.Type + " " + r.Addr.String() }

// TypeOf is the record type that holds a: A for IPv4, AAAA for IPv6.
func TypeOf(a netip.Addr) string {
	if a.Unmap().Is4() {
		return TypeA
	}
	return TypeAAAA
}

// Provider reads and changes the A and AAAA records of names in one zone.
type Provider interface {
	// List returns the A and AAAA records of name (none is no error).
	List(ctx context.Context, name string) ([]Record, error)
	// Add creates r and returns it with its provider ID.
	Add(ctx context.Context, r Record) (Record, error)
	// Delete removes the record of r's name, type and address.
	Delete(ctx context.Context, r Record) error
}

// Config says which provider to build and for which zone.
type Config struct {
	// Provider is cloudflare, alidns, tencentcloud or rfc2136.
	Provider string
	// Zone is the zone the names live in (example.com).
	Zone string
	// Nameserver is the primary's host:port (rfc2136).
	Nameserver string
	// Required are variables that must be set (fleet.yaml's
	// dns.credentials_env), checked before anything is sent.
	Required []string
	// Env looks up environment variables (default os.LookupEnv).
	Env func(string) (string, bool)
	// Timeout bounds one request to the provider (default 15s).
	Timeout time.Duration

	// endpoint, in tests, replaces the vendor's API host (host:port, plain
	// HTTP): the SDK-based providers talk to a fake there.
	endpoint string
}

// ErrCredentials is matched (errors.Is) by errors about missing or invalid
// credentials in the environment.
var ErrCredentials = errors.New("DNS provider credentials")

// providers builds each provider from its config and credentials.
var providers = map[string]func(c Config, cr *creds) (Provider, error){
	"alidns":       newAliDNS,
	"cloudflare":   newCloudflare,
	"rfc2136":      newRFC2136,
	"tencentcloud": newTencentCloud,
}

// Names lists the providers of this build, sorted.
func Names() []string {
	out := make([]string, 0, len(providers))
	for n := range providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New returns the provider c names, with its credentials from the
// environment. Its errors never contain a credential.
func New(c Config) (Provider, error) {
	mk, ok := providers[c.Provider]
	if !ok {
		return nil, fmt.Errorf("DNS provider %q is not one of %s", c.Provider, strings.Join(Names(), ", "))
	}
	if c.Env == nil {
		c.Env = os.LookupEnv
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	c.Zone = strings.TrimSuffix(strings.ToLower(c.Zone), ".")
	cr := &creds{env: c.Env}
	var missing []string
	for _, v := range c.Required {
		if cr.get(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s not set in the environment (dns.credentials_env); export %s", ErrCredentials,
			strings.Join(missing, ", "), pronoun(len(missing)))
	}
	p, err := mk(c, cr)
	if err != nil {
		return nil, cr.redact(fmt.Errorf("DNS provider %s: %w", c.Provider, err))
	}
	return &redacting{p: p, cr: cr, name: c.Provider}, nil
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// creds reads credentials from the environment and remembers every value
// read, to keep them out of errors.
type creds struct {
	env    func(string) (string, bool)
	values []string
}

// get returns the first of names that is set, also as NAME_FILE (a file
// holding the value, as lego reads it).
func (c *creds) get(names ...string) string {
	for _, n := range names {
		if v, ok := c.env(n); ok && v != "" {
			c.values = append(c.values, v)
			return v
		}
		if f, ok := c.env(n + "_FILE"); ok && f != "" {
			if b, err := os.ReadFile(f); err == nil {
				v := strings.TrimSpace(string(b))
				c.values = append(c.values, v)
				return v
			}
		}
	}
	return ""
}

// need returns the value of the first of names that is set, or an error
// saying to export the first.
func (c *creds) need(names ...string) (string, error) {
	if v := c.get(names...); v != "" {
		return v, nil
	}
	also := ""
	if len(names) > 1 {
		also = " (or " + strings.Join(names[1:], ", ") + ")"
	}
	return "", fmt.Errorf("%w: %s%s is not set; export it", ErrCredentials, names[0], also)
}

func (c *creds) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, v := range c.values {
		if len(v) >= 4 {
			clean = strings.ReplaceAll(clean, v, "[redacted]")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// redactedError keeps errors.Is working through a rewritten message.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redacting filters every error of a provider through its credentials.
type redacting struct {
	p    Provider
	cr   *creds
	name string
}

func (r *redacting) List(ctx context.Context, name string) ([]Record, error) {
	recs, err := r.p.List(ctx, name)
	return recs, r.cr.redact(r.wrap("list", name, err))
}

func (r *redacting) Add(ctx context.Context, rec Record) (Record, error) {
	out, err := r.p.Add(ctx, rec)
	return out, r.cr.redact(r.wrap("add", rec.String(), err))
}

func (r *redacting) Delete(ctx context.Context, rec Record) error {
	return r.cr.redact(r.wrap("delete", rec.String(), r.p.Delete(ctx, rec)))
}

func (r *redacting) wrap(op, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s %s: %w", r.name, op, what, err)
}

// relative is name relative to zone: "api", or "@" for the apex.
func relative(name, zone string) string {
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(name, "."+zone)
}

// absolute is the FQDN (no final dot) of rr (relative to zone, "@" or "").
func absolute(rr, zone string) string {
	rr = strings.TrimSuffix(strings.ToLower(rr), ".")
	switch {
	case rr == "@" || rr == "" || rr == zone:
		return zone
	case strings.HasSuffix(rr, "."+zone):
		return rr
	}
	return rr + "." + zone
}

// keep filters recs to the A and AAAA records of name, sorted.
func keep(recs []Record, name string) []Record {
	var out []Record
	for _, r := range recs {
		if r.Name == name && (r.Type == TypeA || r.Type == TypeAAAA) {
			out = append(out, r)
		}
	}
	Sort(out)
	return out
}

// Sort orders records by name, type (A first) and address.
func Sort(recs []Record) {
	sort.Slice(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Addr.Less(b.Addr)
	})
}
