package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/agent"
	"github.com/edgectl/edgectl/proxy"
)

// agentPauseOptions are the flags of `edgectl agent pause`.
type agentPauseOptions struct {
	Upstreams         []string
	MaxHeld           int
	ResumeWhenHealthy bool
	WaitIdle          time.Duration
}

// agentResumeOptions are the flags of `edgectl agent resume`.
type agentResumeOptions struct {
	Upstreams   []string
	WhenHealthy bool
	Wait        time.Duration
}

func newAgentPauseCmd(f *Factory, g *GlobalOptions, ctl *agentCtlOptions) *cobra.Command {
	opts := &agentPauseOptions{}
	cmd := &cobra.Command{
		Use:   "pause",
		Short: "Hold new requests to upstreams while their backend restarts (in-flight requests go on)",
		Long: `Hold new requests to the named upstreams (every upstream without --upstream) while
their backend restarts: they wait in the agent and go on once it resumes, so none fails.
Requests in flight are not affected. --timeout bounds the pause (default 30s): the agent then
resumes by itself and answers the requests still held with 503 and Retry-After, as it does
beyond --max-held.`,
		Example: `  # hold, restart the backend, release when it answers its health check
  edgectl agent pause --upstream backend_api --timeout 30s --wait-idle 5s
  systemctl restart mop-api
  edgectl agent resume --upstream backend_api --when-healthy --wait 30s

  # or let the agent resume once it saw the backend go away and come back
  edgectl agent pause --resume-when-healthy`,
		Args:        noArgs,
		Annotations: map[string]string{noTimeout: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock, err := ctl.socket(cmd)
			if err != nil {
				return err
			}
			return agentPauseRun(cmd.Context(), f, g, agent.NewClient(sock), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Upstreams, "upstream", nil, "upstream to pause (repeat or comma-separate; default: all)")
	fl.IntVar(&opts.MaxHeld, "max-held", 0, fmt.Sprintf("requests held per upstream; more get 503 (default %d)", proxy.DefaultMaxHeld))
	fl.BoolVar(&opts.ResumeWhenHealthy, "resume-when-healthy", false, "resume at the first passing health check after a failing one")
	fl.DurationVar(&opts.WaitIdle, "wait-idle", 0, "wait up to this long for requests in flight to the upstreams to finish")
	return cmd
}

func agentPauseRun(ctx context.Context, f *Factory, g *GlobalOptions, c *agent.Client, opts *agentPauseOptions) error {
	timeout := g.Timeout // for pause, --timeout is the hold's bound
	if timeout == 0 {
		timeout = proxy.DefaultHoldTimeout
	}
	if timeout > agent.MaxHoldTimeout {
		return usageError(fmt.Errorf("--timeout %s is longer than any client waits; pause for at most %s", timeout, agent.MaxHoldTimeout))
	}
	if opts.MaxHeld < 0 || opts.WaitIdle < 0 {
		return usageError(fmt.Errorf("--max-held and --wait-idle must not be negative"))
	}
	ans, err := c.Pause(ctx, agent.PauseRequest{Upstreams: opts.Upstreams, TimeoutMS: timeout.Milliseconds(), MaxHeld: opts.MaxHeld,
		ResumeWhenHealthy: opts.ResumeWhenHealthy, WaitIdleMS: opts.WaitIdle.Milliseconds()})
	if err != nil {
		return problemError(err)
	}
	if g.Output == "json" {
		return writeJSON(f.IO.Out, ans)
	}
	w := f.IO.Out
	for _, u := range ans.Upstreams {
		how := "until resumed"
		if opts.ResumeWhenHealthy {
			how = "until a health check passes after one failed"
		}
		fmt.Fprintf(w, "paused %s: holding new requests %s, at most %s\n", u.Name, how, timeout)
	}
	if ans.Inflight != nil && *ans.Inflight > 0 {
		fmt.Fprintf(f.IO.ErrOut, "warning: %d request(s) still in flight after --wait-idle %s\n", *ans.Inflight, opts.WaitIdle)
	}
	return nil
}

func newAgentResumeCmd(f *Factory, g *GlobalOptions, ctl *agentCtlOptions) *cobra.Command {
	opts := &agentResumeOptions{}
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Release the requests held by `agent pause` (now, or at the first passing health check)",
		Example: `  edgectl agent resume
  edgectl agent resume --upstream backend_api --when-healthy --wait 30s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock, err := ctl.socket(cmd)
			if err != nil {
				return err
			}
			return agentResumeRun(cmd.Context(), f, g, agent.NewClient(sock), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Upstreams, "upstream", nil, "upstream to resume (repeat or comma-separate; default: all)")
	fl.BoolVar(&opts.WhenHealthy, "when-healthy", false, "resume at the first passing health check (checked every 100ms) instead of now")
	fl.DurationVar(&opts.Wait, "wait", 0, "wait up to this long until the pauses ended and print what they held")
	return cmd
}

func agentResumeRun(ctx context.Context, f *Factory, g *GlobalOptions, c *agent.Client, opts *agentResumeOptions) error {
	if opts.Wait < 0 {
		return usageError(fmt.Errorf("--wait must not be negative"))
	}
	ans, err := c.Resume(ctx, agent.ResumeRequest{Upstreams: opts.Upstreams, WhenHealthy: opts.WhenHealthy, WaitMS: opts.Wait.Milliseconds()})
	if err != nil {
		return problemError(err)
	}
	if g.Output == "json" {
		return writeJSON(f.IO.Out, ans)
	}
	w := f.IO.Out
	if len(ans.Upstreams) == 0 {
		fmt.Fprintln(w, "nothing was paused")
	}
	for _, u := range ans.Upstreams {
		if u.Hold != nil && u.Hold.Paused {
			fmt.Fprintf(w, "resuming %s at its first passing health check (%d held now)\n", u.Name, u.Hold.Held)
		} else {
			fmt.Fprintf(w, "resumed %s\n", u.Name)
		}
	}
	printPauses(w, ans.Pauses)
	if ans.Status != "resumed" && opts.Wait > 0 {
		return problemError(fmt.Errorf("still paused after --wait %s; the pause ends by itself at its timeout, or run edgectl agent resume without --when-healthy", opts.Wait))
	}
	return nil
}

// printHolds writes a line per paused upstream for agent status.
func printHolds(w io.Writer, ups []proxy.UpstreamStatus) {
	for _, u := range ups {
		if h := u.Hold; h != nil && h.Paused {
			how := map[string]string{"manual": "on agent resume", "healthy_after_down": "at the first passing check after a failing one",
				"healthy": "at the first passing check"}[h.Resume]
			fmt.Fprintf(w, "PAUSED %s: %d request(s) held, paused %s of at most %s, resumes %s\n", u.Name, h.Held,
				(time.Duration(h.PausedMS) * time.Millisecond).String(), (time.Duration(h.TimeoutMS) * time.Millisecond).String(), how)
		}
	}
}

// printPauses writes one line per finished pause.
func printPauses(w io.Writer, recs []proxy.PauseRecord) {
	for _, r := range recs {
		line := fmt.Sprintf("%s: paused %s (%s), %d request(s) held, %d released", r.Upstream,
			(time.Duration(r.DurationMS) * time.Millisecond).String(), r.Ended, r.Held, r.Released)
		var extra []string
		if r.Rejected > 0 {
			extra = append(extra, fmt.Sprintf("%d answered 503", r.Rejected))
		}
		if r.ClientGone > 0 {
			extra = append(extra, fmt.Sprintf("%d clients gone", r.ClientGone))
		}
		if len(extra) > 0 {
			line += ", " + strings.Join(extra, ", ")
		}
		fmt.Fprintln(w, line)
	}
}
