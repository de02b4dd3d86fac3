package cli

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/dnsrecords"
	"github.com/edgectl/edgectl/dnssync"
	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/sweep"
)

// dnsOptions holds the flags, streams and seams of `dns plan|sync|check`.
type dnsOptions struct {
	Action    string // plan, sync or check
	File      string
	Prune     bool
	Hosts     []string
	Resolvers []string
	CAFile    string
	Timeout   time.Duration
	JSON      bool
	Verbose   bool
	IO        *IOStreams
	// LoadFleet reads the fleet file (Factory.LoadFleet).
	LoadFleet func(path string) (*fleet.Fleet, error)
	// NewProvider builds the records provider (default: dns: of the
	// fleet, credentials from the environment).
	NewProvider func(f *fleet.Fleet) (dnsrecords.Provider, error)
	// ProbeDial opens the probes' connections (nil: from this machine).
	ProbeDial probe.DialFunc
}

const dnsLong = `Make the round-robin A and AAAA records of the fleet's names follow health.

The names, zone and provider come from the dns: section of the fleet file
(provider cloudflare, alidns, tencentcloud or rfc2136); credentials only from
the environment, from the variables lego's DNS-01 provider of that name reads
(CLOUDFLARE_DNS_API_TOKEN; ALICLOUD_ACCESS_KEY and ALICLOUD_SECRET_KEY;
TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY; RFC2136_TSIG_KEY,
RFC2136_TSIG_SECRET and RFC2136_TSIG_ALGORITHM). They are never printed.

plan probes every address of every host on its own family, as sweep does, and
shows the difference between the records and the healthy addresses: + to add,
- to remove, ! held back by a safety rule, ~ a record that is no fleet address,
= a host left alone. sync applies it. Safety before speed, per name and family:
the last dns.min_healthy records always stay, at most dns.max_remove leave in
one run, records that are no fleet address are kept unless --prune, hosts
outside --hosts are left alone, additions come before removals, and a provider
error reverts what the run did (the records are as they were) and exits 1.
sync is idempotent: a second run finds nothing to do.

check asks each resolver (--resolver, default the zone's authoritative servers
found by an NS lookup) for the names' records and shows them side by side with
the provider's: "stale" when a resolver still serves an address that is no
longer a record (propagation pending, or a cache), "behind" when it lacks one.
Record sets with a TTL above 300 s are warned about: clients keep a removed
address up to the TTL.

Exit status: 0 done (or nothing to do; every resolver agrees), 1 a provider
error, a failed change, or a resolver that disagrees, 2 invalid flags or fleet
file (no dns: section, missing credentials).`

func newDNSCmd(f *Factory, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Make the round-robin DNS records follow the healthy fleet",
		Long:  dnsLong,
		Example: `  # What would change, then do it
  export CLOUDFLARE_DNS_API_TOKEN=...
  edgectl dns plan fleet.yaml
  edgectl dns sync fleet.yaml

  # Also remove records that are no fleet address; JSON for scripts
  edgectl dns sync fleet.yaml --prune --json

  # Only act on two hosts' addresses
  edgectl dns sync fleet.yaml --hosts edge-1,edge-2

  # Has every resolver caught up?
  edgectl dns check fleet.yaml --resolver 1.1.1.1:53,[2001:4860:4860::8888]:53`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, action := range []string{"plan", "sync", "check"} {
		cmd.AddCommand(newDNSActionCmd(f, g, action))
	}
	return cmd
}

func newDNSActionCmd(f *Factory, g *GlobalOptions, action string) *cobra.Command {
	opts := &dnsOptions{Action: action, IO: f.IO, LoadFleet: f.LoadFleet}
	short := map[string]string{
		"plan":  "Show how the records differ from the healthy fleet addresses",
		"sync":  "Change the records to the healthy fleet addresses, within the safety limits",
		"check": "Show each resolver's view of the records, and which still serve a removed address",
	}[action]
	cmd := &cobra.Command{
		Use:   action + " FLEET.yaml",
		Short: short,
		Long:  dnsLong,
		Args:  exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.JSON = g.Output == "json"
			opts.Verbose = g.Verbose
			for _, r := range opts.Resolvers {
				if _, port, err := net.SplitHostPort(r); err != nil || port == "" {
					return usageError(fmt.Errorf("--resolver %q must be host:port, e.g. 198.18.0.53:53 or [fd00::53]:53", r))
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return dnsRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	if action == "check" {
		fl.StringSliceVar(&opts.Resolvers, "resolver", nil, "resolvers to ask, host:port,... (default: the zone's authoritative servers)")
	} else {
		fl.BoolVar(&opts.Prune, "prune", false, "also remove records that are no fleet address")
		fl.StringSliceVar(&opts.Hosts, "hosts", nil, "only act on these hosts' addresses (comma-separated); others are left alone")
		fl.StringVar(&opts.CAFile, "ca-file", "", "PEM file of extra trusted roots for the probes (a private CA)")
	}
	fl.DurationVar(&opts.Timeout, "query-timeout", 3*time.Second, "bound on one DNS query (check)")
	return cmd
}

// dnsRun loads the fleet and the provider, then plans, syncs or checks.
func dnsRun(ctx context.Context, opts *dnsOptions) error {
	f, prov, err := dnsSetup(opts)
	if err != nil {
		return err
	}
	if opts.Action == "check" {
		return dnsCheck(ctx, opts, f, prov)
	}
	hold := func(string) string { return "" }
	if len(opts.Hosts) > 0 {
		sel, err := f.Select(opts.Hosts, "")
		if err != nil {
			return dnsFail(ExitUsage, fmt.Errorf("--hosts: %w", err))
		}
		chosen := map[string]bool{}
		for _, h := range sel {
			chosen[h.Name] = true
		}
		hold = func(h string) string {
			if chosen[h] {
				return ""
			}
			return "not in --hosts"
		}
	}
	roots, err := loadRoots(opts.CAFile)
	if err != nil {
		return dnsFail(ExitUsage, err)
	}
	rep, err := sweep.Run(ctx, f, sweep.Options{RootCAs: roots, Dial: opts.ProbeDial})
	if err != nil {
		return dnsFail(ExitUsage, err)
	}
	addrs := sweep.ProbeAddrs(f, rep, hold)
	plan, err := dnssync.Build(ctx, prov, f.DNSNames(), addrs, dnssync.PolicyOf(f.DNS, opts.Prune))
	if err != nil {
		return dnsFail(ExitProblem, fmt.Errorf("read the records: %w", err))
	}
	out := dnsPlanOutput{Action: opts.Action, Names: plan.Names, Addresses: addrs, Summary: plan.Summary()}
	var applyErr error
	if opts.Action == "sync" {
		out.Applied, applyErr = dnssync.Apply(ctx, prov, plan.Changes())
	}
	if applyErr != nil {
		out.Error = &dnsError{Message: applyErr.Error(), ExitCode: ExitProblem}
	}
	if err := printDNSPlan(opts, out); err != nil {
		return err
	}
	if applyErr != nil {
		if opts.JSON {
			return silentExit(ExitProblem)
		}
		return problemError(applyErr)
	}
	return nil
}

// dnsSetup loads the fleet, which must have a dns: section, and builds its
// provider.
func dnsSetup(opts *dnsOptions) (*fleet.Fleet, dnsrecords.Provider, error) {
	load := opts.LoadFleet
	if load == nil {
		load = (&Factory{}).LoadFleet
	}
	f, err := load(opts.File)
	if err != nil {
		return nil, nil, err
	}
	if f.DNS == nil {
		return nil, nil, usageError(fmt.Errorf("%s has no dns: section; add one (provider, zone, names) to let the records follow health", opts.File))
	}
	newProvider := opts.NewProvider
	if newProvider == nil {
		newProvider = fleetProvider
	}
	p, err := newProvider(f)
	if err != nil {
		return nil, nil, usageError(err)
	}
	return f, p, nil
}

// dnsError is the error object inside dns --json output.
type dnsError struct {
	Message  string `json:"message"`
	ExitCode int    `json:"exit_code"`
}

// dnsFail ends the command with code; under --json, Run prints the error
// object on stdout.
func dnsFail(code int, err error) error {
	return &ExitError{Code: code, Err: err}
}
