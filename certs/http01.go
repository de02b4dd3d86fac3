package certs

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/challenge"

	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// challengePath is where HTTP-01 tokens are requested (RFC 8555 8.3).
const challengePath = "/.well-known/acme-challenge/"

// target is one address the CA (or pre-flight) will fetch a name from.
type target struct {
	Host string     // fleet host name
	Addr netip.Addr // the address in DNS
}

// fleetHTTP01 is lego's HTTP-01 provider for a fleet: Present writes the
// token into the agent's acme_challenge_dir on every host, then checks from
// here that every address the name resolves to serves it; CleanUp removes
// it from every host. Tokens are per authorization, so lego's parallel
// solving of several names is safe.
type fleetHTTP01 struct {
	conns   []*conn
	dir     string               // acme_challenge_dir
	port    int                  // the CA's HTTP port
	targets map[string][]target  // name → addresses from pre-flight
	timeout time.Duration        // bound of the serve check
	logf    func(string, ...any) // progress
}

var (
	_ challenge.Provider        = (*fleetHTTP01)(nil)
	_ challenge.ProviderTimeout = (*fleetHTTP01)(nil)
)

// Present places keyAuth as the token file on every host and returns once
// every address of domain serves it. On failure it removes the token again
// itself: lego calls CleanUp only after a successful Present.
func (p *fleetHTTP01) Present(domain, token, keyAuth string) (err error) {
	if err := checkToken64(token); err != nil {
		return fmt.Errorf("HTTP-01 challenge for %s: %w", domain, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout+30*time.Second)
	defer cancel()
	defer func() {
		if err != nil {
			_ = p.CleanUp(domain, token, keyAuth)
		}
	}()
	if err := placeToken(ctx, p.conns, p.dir, token, []byte(keyAuth)); err != nil {
		return fmt.Errorf("place HTTP-01 token for %s: %w", domain, err)
	}
	p.logf("token for %s written on %d hosts", domain, len(p.conns))
	bad := checkToken(ctx, p.targets[domain], p.port, domain, token, []byte(keyAuth), p.timeout)
	if msg := failedChecks(bad); msg != "" {
		return fmt.Errorf("HTTP-01 token for %s not served: %s", domain, msg)
	}
	p.logf("token for %s served on %d addresses", domain, len(p.targets[domain]))
	return nil
}

// CleanUp removes the token file from every host.
func (p *fleetHTTP01) CleanUp(domain, token, _ string) error {
	if err := checkToken64(token); err != nil {
		return fmt.Errorf("HTTP-01 challenge for %s: %w", domain, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := removeToken(ctx, p.conns, p.dir, token); err != nil {
		return fmt.Errorf("remove HTTP-01 token for %s: %w", domain, err)
	}
	return nil
}

// Timeout tells lego how long to wait for validation (timeout) and how often
// to poll (interval).
func (p *fleetHTTP01) Timeout() (timeout, interval time.Duration) {
	return 2 * time.Minute, 500 * time.Millisecond
}

// checkToken64 refuses a token from the CA that is not base64url (RFC 8555
// 8.3: [A-Za-z0-9_-]): a name with "/", ".." or any other byte never
// becomes a path on a host.
func checkToken64(token string) error {
	if len(token) == 0 || len(token) > 256 {
		return fmt.Errorf("the CA sent a token of %d characters; refusing it (base64url expected)", len(token))
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("the CA sent token %q with %q, outside base64url; refusing to write it on any host", token, string(c))
		}
	}
	return nil
}

// placeToken writes content to dir/token (0644) on every host, creating dir
// when missing.
func placeToken(ctx context.Context, conns []*conn, dir, token string, content []byte) error {
	errs := forEach(conns, func(c *conn) error {
		if _, err := c.rh.Run(ctx, "mkdir -p -- "+remote.ShellQuote(dir), nil); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		return c.rh.WriteFile(ctx, path.Join(dir, token), content, 0o644)
	})
	return hostErrors(conns, errs)
}

// removeToken deletes dir/token on every host.
func removeToken(ctx context.Context, conns []*conn, dir, token string) error {
	errs := forEach(conns, func(c *conn) error {
		return c.rh.Remove(ctx, path.Join(dir, token))
	})
	return hostErrors(conns, errs)
}

func hostErrors(conns []*conn, errs map[string]error) error {
	if len(errs) == 0 {
		return nil
	}
	var parts []string
	for _, c := range conns {
		if err, ok := errs[c.host.Name]; ok {
			parts = append(parts, fmt.Sprintf("%s: %v", c.host.Name, err))
		}
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// tokenCheck is the outcome of fetching a token from one address.
type tokenCheck struct {
	target
	URL     string
	Problem string // "" when served correctly
}

// checkToken fetches http://ADDR:port/.well-known/acme-challenge/token with
// Host: name from every target, in parallel, until each serves content or
// timeout passes, and returns every check.
func checkToken(ctx context.Context, targets []target, port int, name, token string, content []byte, timeout time.Duration) []tokenCheck {
	out := make([]tokenCheck, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			addr := net.JoinHostPort(t.Addr.String(), strconv.Itoa(port))
			out[i] = tokenCheck{target: t, URL: "http://" + addr + challengePath + token}
			deadline := time.Now().Add(timeout)
			for {
				res := probe.Do(ctx, probe.Request{Addr: addr, Scheme: "http", Host: name, Path: challengePath + token, Timeout: 3 * time.Second})
				switch {
				case res.Err != nil:
					out[i].Problem = fmt.Sprintf("%s (%v)", res.Kind, res.Err)
				case res.Status != 200:
					out[i].Problem = fmt.Sprintf("HTTP %d instead of the token; is the agent serving acme_challenge_dir on port %d?", res.Status, port)
				case !bytes.Equal(bytes.TrimSpace(res.Body), content):
					out[i].Problem = "answers 200 with other content than the token; is another server on this address?"
				default:
					out[i].Problem = ""
					return
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
	return out
}

// failedChecks renders the failed checks, "" when all passed.
func failedChecks(checks []tokenCheck) string {
	var parts []string
	for _, c := range checks {
		if c.Problem != "" {
			parts = append(parts, fmt.Sprintf("%s %s (%s): %s", c.Host, c.Addr, family(c.Addr), c.Problem))
		}
	}
	return strings.Join(parts, "; ")
}
