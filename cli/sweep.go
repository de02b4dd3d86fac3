package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/notify"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/provision"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/sweep"
)

// sweepOptions holds the flags, streams and seams of `sweep`.
type sweepOptions struct {
	File        string
	Resolver    string
	Deep        bool
	AcceptNew   bool
	Watch       bool
	Interval    time.Duration
	Quiet       bool
	MetricsFile string
	Listen      string
	StatePath   string
	CAFile      string
	Concurrency int
	RunTimeout  time.Duration
	// DNS makes the dns: names' records follow the sweep's verdicts.
	DNS     bool
	JSON    bool
	Color   bool
	Verbose bool
	IO      *IOStreams
	// LoadFleet reads the fleet file (Factory.LoadFleet).
	LoadFleet func(path string) (*fleet.Fleet, error)
	// Dialer reaches hosts for --deep (default: SSH with fleet.yaml's ssh:).
	Dialer func(f *fleet.Fleet) provision.Dialer
	// ProbeDial opens the probes' connections (nil: from this machine).
	ProbeDial probe.DialFunc
	// NewProvider builds the DNS records provider for --dns (default:
	// dns: of the fleet, credentials from the environment).
	NewProvider func(f *fleet.Fleet) (dnsrecords.Provider, error)
	// Hold names more hosts --dns leaves alone and why (nil: none); hosts
	// whose deploy is under way are always left alone (sweep.DeployHold).
	Hold func(host string) string
	// ready, when set, is called with the --listen address once it serves.
	ready func(addr string)
}

func newSweepCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	opts := &sweepOptions{IO: f.IO, LoadFleet: f.LoadFleet}
	cmd := &cobra.Command{
		Use:   "sweep FLEET.yaml",
		Short: "Probe every host over IPv4 and IPv6 separately, with TLS and DNS checks",
		Long: `Sweep the fleet's health in one pass. Every address of every host is probed on
its own: a TCP connect, then an HTTPS request for sweep.health_path with the
fleet's first domain as SNI and Host, dialled to that exact address (like curl
--resolve). IPv4 and IPv6 are separate results; a probe never falls back from
one family to the other. Each address's certificate is checked: fewer than 14
days left warns, fewer than 3 (or expired, untrusted, or not covering the
domain) fails. The domains' A and AAAA records (asked from --resolver, else
fleet.yaml's resolver, else the system resolver) are compared with the fleet:
an unhealthy address still in DNS is the top problem, then stale (unexpected)
records, then healthy addresses missing from DNS.

--deep also logs in to every host (SSH, as deploy does) and reads the agent's
GET /status from its admin socket (upstream states), net.ipv6.bindv6only and
systemctl is-active edgectl-agent. Host keys are checked against
ssh.known_hosts; --accept-new records hosts not listed yet.

Exit status: 0 healthy, 1 degraded or down (or another sweep holds the lock),
2 invalid flags or fleet file.

Alerts: a host+family turns down after sweep.fail_after failed sweeps in a row
and recovers after sweep.recover_after passing ones. These transitions alert,
once each, and so do: the origin down behind a live agent (its health says
degraded) and back, a certificate under 14 or 3 days (or refused) and fine
again, a record in DNS that is no fleet address, and, with --dns, each record
added or removed and each removal a safety rule holds back. Alerts go to every
entry of alerts: (webhook, slack, telegram, dingtalk, feishu, wecom) and to
sweep.alert_webhook (a JSON POST: {"kind","host","family","address",
"status","error","time","text"}), 5s timeout, 3 attempts; what a notifier did
not take is retried on the next sweep. Without any, alerts are printed to
stderr. The counts live in --state (default
$XDG_STATE_HOME/edgectl/sweep-<hash of the fleet path>.json), or in memory
with --watch. A lock next to the state file (STATE.lock) makes a second
concurrent sweep exit 1 with "another sweep is running (pid N, lock FILE)".

--dns makes the round-robin records of dns.names follow the state: an address
leaves after fail_after failed sweeps of its own family (an IPv6 failure
removes only the AAAA) and comes back after recover_after passing ones, never
removing the last dns.min_healthy records of a family nor more than
dns.max_remove in one run. An address that failed but is not down yet is
not added. A host whose deploy is under way ("deploying": its agent says so,
or with --deep its lock) is left alone, its records neither removed nor put
back: a deploy with rollout.dns_drain takes them out and puts them back
itself. A deploy past its maximum time counts as down again. Changes are
kept in the state file (dns_log) and alerted; a provider error leaves the
records as they were.

--metrics-file writes Prometheus text atomically, for node_exporter's textfile
collector: edgectl_sweep_up, edgectl_sweep_latency_seconds,
edgectl_sweep_tls_days_left, edgectl_sweep_dns_unexpected,
edgectl_sweep_last_run_timestamp_seconds, edgectl_sweep_duration_seconds.`,
		Example: `  # One sweep; the table, the summary line, exit 1 if anything is wrong
  edgectl sweep fleet.yaml

  # From cron every 5 minutes: silent while healthy, metrics for node_exporter
  */5 * * * * edgectl sweep /etc/edgectl/fleet.yaml --quiet \
      --metrics-file /var/lib/node_exporter/textfile/edgectl_sweep.prom

  # As a service: sweep every minute, alert on transitions, serve /metrics
  edgectl sweep fleet.yaml --watch --interval 1m --quiet --listen 127.0.0.1:9181

  # From cron every minute: records follow health (dns: in fleet.yaml)
  * * * * * CLOUDFLARE_DNS_API_TOKEN=... edgectl sweep /etc/edgectl/fleet.yaml --dns --quiet

  # Ask a specific DNS server, include the agents' own view, JSON for scripts
  edgectl sweep fleet.yaml --resolver 198.18.0.53:53 --deep --json | jq .dns`,
		Args: exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.JSON = g.Output == "json"
			opts.Color = g.color(f.IO)
			opts.Verbose = g.Verbose
			return opts.validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if opts.Watch {
				// A service stopped by systemd ends its watch cleanly.
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM)
				defer stop()
			}
			return sweepRun(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Deep, "deep", false, "also read each agent's /status, bindv6only and service state over SSH")
	fl.BoolVar(&opts.AcceptNew, "accept-new", false, "with --deep, record host keys of hosts not yet in known_hosts (a changed key is always refused)")
	fl.StringVar(&opts.Resolver, "resolver", envOr("EDGECTL_RESOLVER", ""), "DNS server host:port for the A/AAAA check (default: fleet.yaml's resolver, else the system's)")
	fl.BoolVar(&opts.Watch, "watch", false, "sweep every --interval until interrupted, keeping the alert state in memory")
	fl.DurationVar(&opts.Interval, "interval", 5*time.Minute, "time between sweeps with --watch")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing when the fleet is healthy")
	fl.StringVar(&opts.MetricsFile, "metrics-file", "", "write Prometheus text here after every sweep (node_exporter textfile collector)")
	fl.StringVar(&opts.Listen, "listen", "", "with --watch, serve /metrics on this address (e.g. 127.0.0.1:9181)")
	fl.StringVar(&opts.StatePath, "state", envOr("EDGECTL_SWEEP_STATE", ""), "state file with the consecutive failure counts (default under $XDG_STATE_HOME/edgectl)")
	fl.StringVar(&opts.CAFile, "ca-file", "", "PEM file of extra trusted roots, for certificates from a private CA")
	fl.IntVar(&opts.Concurrency, "concurrency", sweep.DefaultConcurrency, "probes in flight at once")
	fl.DurationVar(&opts.RunTimeout, "run-timeout", sweep.DefaultRunTimeout, "bound on one whole sweep")
	fl.BoolVar(&opts.DNS, "dns", false, "make the records of dns.names follow health (remove after fail_after, re-add after recover_after)")
	return cmd
}

func (o *sweepOptions) validate() error {
	switch {
	case o.Watch && o.Interval <= 0:
		return usageError(fmt.Errorf("--interval must be positive, not %v", o.Interval))
	case o.Listen != "" && !o.Watch:
		return usageError(errors.New("--listen serves /metrics between sweeps and needs --watch; for cron use --metrics-file"))
	case o.Concurrency < 1:
		return usageError(fmt.Errorf("--concurrency must be at least 1, not %d", o.Concurrency))
	case o.RunTimeout <= 0:
		return usageError(fmt.Errorf("--run-timeout must be positive, not %v", o.RunTimeout))
	}
	if o.Resolver != "" {
		if _, port, err := net.SplitHostPort(o.Resolver); err != nil || port == "" {
			return usageError(fmt.Errorf("--resolver %q must be host:port, e.g. 198.18.0.53:53 or [fd00::53]:53", o.Resolver))
		}
	}
	return nil
}

// sweepRun loads the fleet, takes the lock and sweeps once, or every
// interval with --watch.
func sweepRun(ctx context.Context, opts *sweepOptions) error {
	f, err := opts.LoadFleet(opts.File)
	if err != nil {
		return err
	}
	roots, err := loadRoots(opts.CAFile)
	if err != nil {
		return usageError(err)
	}
	notifiers, err := notify.New(f, notify.Options{})
	if err != nil {
		return usageError(err)
	}
	var records dnsrecords.Provider
	if opts.DNS {
		if f.DNS == nil {
			return usageError(fmt.Errorf("--dns changes the records of the dns: section, and %s has none; add dns: (provider, zone) or drop --dns", opts.File))
		}
		newProvider := opts.NewProvider
		if newProvider == nil {
			newProvider = fleetProvider
		}
		if records, err = newProvider(f); err != nil {
			return usageError(err)
		}
	}
	statePath := opts.StatePath
	if statePath == "" {
		if statePath, err = defaultStatePath(opts.File); err != nil {
			return usageError(err)
		}
	}
	lock, err := sweep.AcquireLock(statePath + ".lock")
	if err != nil {
		return &ExitError{Code: ExitProblem, Err: err}
	}
	defer lock.Release()
	persist := !opts.Watch || opts.StatePath != ""
	st := sweep.NewState()
	if persist {
		if st, err = sweep.LoadState(statePath); err != nil {
			return &ExitError{Code: ExitProblem, Err: err}
		}
		if st.Recovered != "" {
			fmt.Fprintf(opts.IO.ErrOut, "edgectl: warning: %s\n", st.Recovered)
		}
	}
	so := sweep.Options{
		Resolver: opts.Resolver, Deep: opts.Deep, Concurrency: opts.Concurrency,
		RunTimeout: opts.RunTimeout, RootCAs: roots, Dial: opts.ProbeDial,
	}
	if opts.Deep {
		if opts.Dialer != nil {
			so.Dialer = opts.Dialer(f)
		} else {
			so.Dialer = fleetDialer(f, opts.AcceptNew, opts.IO)
		}
	}
	var metrics atomic.Pointer[[]byte]
	if opts.Listen != "" {
		stop, err := serveSweepMetrics(opts, &metrics)
		if err != nil {
			return usageError(err)
		}
		defer stop()
	}
	once := func() (*sweep.Report, error) {
		rep, err := sweep.Run(ctx, f, so)
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		rep.Alerts = st.Update(rep, f.Sweep.FailAfter, f.Sweep.RecoverAfter, rep.Time)
		if records != nil {
			var more []sweep.Alert
			rep.DNSAction, more = st.ActDNS(ctx, records, f, rep, opts.Hold, rep.Time)
			rep.Alerts = append(rep.Alerts, more...)
		}
		deliverAlerts(ctx, opts, notifiers, st, rep)
		if persist {
			if err := st.Save(statePath); err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "edgectl: %v\n", err)
			}
		}
		var b bytes.Buffer
		_ = sweep.WriteMetrics(&b, rep)
		data := b.Bytes()
		metrics.Store(&data)
		if opts.MetricsFile != "" {
			if err := remote.WriteFileAtomic(opts.MetricsFile, data, 0o644); err != nil {
				fmt.Fprintf(opts.IO.ErrOut, "edgectl: write --metrics-file: %v\n", err)
			}
		}
		if opts.Verbose {
			fmt.Fprintf(opts.IO.ErrOut, "sweep: %s in %.0fms\n", rep.Status, rep.DurationMS)
		}
		return rep, printSweep(opts, rep)
	}
	if !opts.Watch {
		rep, err := once()
		if err != nil {
			return err
		}
		if rep.Status != sweep.StatusHealthy || (rep.DNSAction != nil && rep.DNSAction.Error != "") {
			return silentExit(ExitProblem)
		}
		return nil
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		if _, err := once(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// deliverAlerts offers every pending alert to the notifiers, or, with
// none, logs it. What a notifier did not take stays pending in the state
// for the next sweep.
func deliverAlerts(ctx context.Context, opts *sweepOptions, ns []notify.Notifier, st *sweep.State, rep *sweep.Report) {
	quiet := opts.Quiet && rep.Status == sweep.StatusHealthy
	for _, d := range st.Deliver(ctx, ns) {
		switch {
		case d.Notifier == "":
			if !quiet {
				fmt.Fprintf(opts.IO.ErrOut, "alert: %s\n", d.Alert.Text)
			}
		case d.Err != nil:
			fmt.Fprintf(opts.IO.ErrOut, "edgectl: %s\n", d)
		case opts.Verbose:
			fmt.Fprintf(opts.IO.ErrOut, "sweep: %s\n", d)
		}
	}
}

// fleetProvider is the DNS records provider of the fleet's dns: section,
// with its credentials from the environment.
func fleetProvider(f *fleet.Fleet) (dnsrecords.Provider, error) {
	d := f.DNS
	return dnsrecords.New(dnsrecords.Config{Provider: d.Provider, Zone: d.Zone, Nameserver: d.Nameserver, Required: d.CredentialsEnv})
}

// loadRoots is the system pool plus the PEM roots in file ("" = nil: the
// system pool as is).
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// defaultStatePath is $XDG_STATE_HOME/edgectl/sweep-<hash>.json (or
// ~/.local/state/...), the hash being of the fleet file's absolute path so
// two fleets never share counts.
func defaultStatePath(fleetFile string) (string, error) {
	abs, err := filepath.Abs(fleetFile)
	if err != nil {
		return "", fmt.Errorf("state file: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errors.New("no $HOME or $XDG_STATE_HOME for the sweep state: pass --state FILE")
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "edgectl", "sweep-"+hex.EncodeToString(sum[:6])+".json"), nil
}

// serveSweepMetrics serves the last sweep's metrics on opts.Listen.
func serveSweepMetrics(opts *sweepOptions, metrics *atomic.Pointer[[]byte]) (func(), error) {
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		if m := metrics.Load(); m != nil {
			w.Write(*m)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	if opts.ready != nil {
		opts.ready(ln.Addr().String())
	}
	return func() { srv.Close() }, nil
}
