package diagnose

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/nginxconf"
	"github.com/edgectl/edgectl/remote"
)

// discover finds what to diagnose: the proxy named by the options, or
// found on the host, or a bare port or URL. The proxy's Looked says every
// configuration looked for.
func discover(ctx context.Context, h remote.Host, o *Options) (*Proxy, error) {
	var p *Proxy
	var err error
	switch {
	case o.Config != "":
		p, err = agentProxy(ctx, h, o.Config)
	case o.Nginx:
		p, err = nginxFromHost(ctx, h, o)
	case o.Port != 0 || o.URL != "":
		p = &Proxy{}
	default:
		p, err = agentProxy(ctx, h, agentconfig.DefaultPath)
		if errors.Is(err, fs.ErrNotExist) {
			noAgent := "no agent configuration at " + agentconfig.DefaultPath
			var nerr error
			p, nerr = nginxFromHost(ctx, h, o)
			if nerr != nil {
				return nil, &NotFoundError{Host: h.Name(), Looked: []string{noAgent, nginxFailure(o, nerr)}}
			}
			p.Looked = append([]string{noAgent}, p.Looked...)
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	if err := applyTarget(p, o); err != nil {
		return nil, err
	}
	if len(p.Upstreams) == 0 {
		return nil, &NoUpstreamsError{Host: h.Name(), Source: p.Source}
	}
	if o.ErrorLog != "" {
		p.ErrorLogs = []string{o.ErrorLog}
	}
	return p, nil
}

// nginxFailure says why nginx gave no configuration.
func nginxFailure(o *Options, err error) string {
	cmd := nginxCommand(o, "-T")
	if remote.ExitCode(err) == 127 {
		return "no nginx (" + o.NginxBin + " is not installed or not in PATH)"
	}
	return fmt.Sprintf("no nginx configuration (%s failed: %v)", cmd, err)
}

// applyTarget narrows or builds the upstream list from the port and URL.
func applyTarget(p *Proxy, o *Options) error {
	var u *url.URL
	if o.URL != "" {
		var err error
		u, err = url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &URLError{URL: o.URL, Reason: "want http://ADDR:PORT/PATH, e.g. http://[::1]:8000/health"}
		}
	}
	if p.Kind == "" {
		up := &Upstream{Name: "backend", Scheme: "http", HealthPath: o.HealthPath, KeepaliveTimeout: 0}
		if u != nil {
			def := uint16(80)
			if u.Scheme == "https" {
				def = 443
			}
			addrs := parseAddrs(u.Host, def)
			if len(addrs) == 0 {
				return &URLError{URL: o.URL, Reason: "the host must be an IP address or localhost (probes never resolve names)"}
			}
			up.Scheme = u.Scheme
			if u.Path != "" {
				up.HealthPath = u.RequestURI()
			}
			for _, a := range addrs {
				up.Servers = append(up.Servers, Server{Addr: a, Raw: u.Host})
			}
		} else {
			port := uint16(o.Port)
			up.Servers = []Server{{Addr: netip.AddrPortFrom(loop6, port), Raw: "[::1]"}, {Addr: netip.AddrPortFrom(loop4, port), Raw: "127.0.0.1"}}
		}
		p.Source = "command line"
		p.Upstreams = []*Upstream{up}
		return nil
	}
	if u != nil {
		for _, up := range p.Upstreams {
			up.HealthPath = u.RequestURI()
		}
	}
	return nil
}

// agentProxy reads the agent's configuration on the host.
func agentProxy(ctx context.Context, h remote.Host, file string) (*Proxy, error) {
	data, err := h.ReadFile(ctx, file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, usageErr{fmt.Errorf("%s: read agent config %s: %w", h.Name(), file, err)}
		}
		return nil, fmt.Errorf("%s: read agent config %s: %w", h.Name(), file, err)
	}
	cfg, err := agentconfig.Parse(file, data)
	if err != nil {
		return nil, usageErr{fmt.Errorf("%s: %w", h.Name(), err)}
	}
	p := &Proxy{Kind: "agent", Source: file, HealthPath: cfg.HealthPath, Looked: []string{"agent configuration " + file}}
	for _, l := range cfg.Listen {
		if ap := parseAddrs(l.Addr, 80); len(ap) > 0 {
			p.Listeners = append(p.Listeners, Listener{Addr: ap[0], TLS: l.TLS})
		}
	}
	names := make([]string, 0, len(cfg.Upstreams))
	for n := range cfg.Upstreams {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		cu := cfg.Upstreams[n]
		if cu == nil {
			continue
		}
		u := &Upstream{Name: n, Scheme: cu.Scheme, HealthPath: "/health", Where: file + ": upstreams." + n,
			KeepaliveTimeout: cu.KeepaliveTimeout, Keepalive: cu.Keepalive != nil && *cu.Keepalive > 0}
		if cu.Health != nil && cu.Health.Path != "" {
			u.HealthPath = cu.Health.Path
		}
		for _, s := range cu.Servers {
			for _, a := range parseAddrs(s.Addr, 80) {
				u.Servers = append(u.Servers, Server{Addr: a, Backup: s.Backup, Raw: s.Addr})
			}
		}
		for _, r := range cfg.Routes {
			if r.Upstream == n && u.Path == "" {
				u.Path = r.Path
				if !strings.Contains(r.Host, "*") {
					u.Host = r.Host
				}
			}
		}
		if len(u.Servers) > 0 {
			p.Upstreams = append(p.Upstreams, u)
		}
	}
	for _, r := range cfg.Routes {
		if r.Host != "" && !strings.Contains(r.Host, "*") && !slices.Contains(p.ServerNames, r.Host) {
			p.ServerNames = append(p.ServerNames, r.Host)
		}
	}
	return p, nil
}

// nginxCommand is the `nginx -T` command line for the options.
func nginxCommand(o *Options, flag string) string {
	cmd := remote.ShellQuote(o.NginxBin) + " " + flag
	if o.NginxPrefix != "" {
		cmd += " -p " + remote.ShellQuote(o.NginxPrefix)
	}
	if o.NginxConf != "" {
		cmd += " -c " + remote.ShellQuote(o.NginxConf)
	}
	return cmd
}

// nginxFromHost runs nginx -T on the host and parses what it printed.
func nginxFromHost(ctx context.Context, h remote.Host, o *Options) (*Proxy, error) {
	ctx, cancel := context.WithTimeout(ctx, max(o.ProbeTimeout, 2*time.Second))
	defer cancel()
	cmd := nginxCommand(o, "-T")
	res, err := h.Run(ctx, cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.Name(), cmd, err)
	}
	cfg, err := nginxconf.ParseDump(string(res.Stdout))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.Name(), cmd, err)
	}
	prefix := o.NginxPrefix
	if prefix == "" {
		prefix = "/usr/share/nginx" // Debian's compiled-in prefix
	}
	p := nginxProxy(cfg, prefix)
	p.Looked = []string{"nginx configuration from `" + cmd + "`"}
	return p, nil
}

// portString formats a port for messages.
func portString(p uint16) string { return strconv.Itoa(int(p)) }
