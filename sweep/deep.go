package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// AgentService is the systemd unit --deep asks about.
const AgentService = "edgectl-agent"

// AgentReport is what --deep learned on the host itself.
type AgentReport struct {
	// Status is ok, or fail when the host could not be reached, the
	// agent's status could not be read, or its service is not active.
	Status string `json:"status"`
	// Source is where the upstream states came from: "admin socket"
	// (GET /status) or "health path" (the agent's health JSON through
	// the host's loopback, when curl or the socket is missing).
	Source string `json:"source,omitempty"`
	// Version of the running agent (admin socket only).
	Version  string `json:"version,omitempty"`
	Draining bool   `json:"draining"`
	// Service is `systemctl is-active` for the agent's unit: active,
	// inactive, failed…, or unknown (no systemd).
	Service string `json:"service"`
	// BindV6Only is net.ipv6.bindv6only on the host (-1 unknown). The
	// agent listens dual-stack either way; other software may not.
	BindV6Only int        `json:"bindv6only"`
	Upstreams  []Upstream `json:"upstreams"`
	Error      string     `json:"error"`

	deploy *DeployInfo // the host's lock is held by a deploy or install
}

// statusBody is the part of the agent's GET /status that --deep reads.
type statusBody struct {
	Version   string `json:"version"`
	Draining  bool   `json:"draining"`
	Upstreams []struct {
		Name    string `json:"name"`
		Live    int    `json:"live"`
		Total   int    `json:"total"`
		Servers []struct {
			Addr  string `json:"addr"`
			State string `json:"state"`
		} `json:"servers"`
	} `json:"upstreams"`
}

func (s *statusBody) upstreams() []Upstream {
	out := []Upstream{}
	for _, u := range s.Upstreams {
		up := Upstream{Name: u.Name, Live: u.Live, Total: u.Total}
		for _, p := range u.Servers {
			if p.State != "up" {
				up.Down = append(up.Down, p.Addr)
			}
		}
		out = append(out, up)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// deepSpec is what --deep needs besides the host.
type deepSpec struct {
	admin   string // the agent's admin socket on the host ("" = none)
	probe   probeSpec
	timeout time.Duration
}

// deepCheck reads the agent's status, bindv6only and service state on h.
func deepCheck(ctx context.Context, h remote.Host, sp deepSpec) *AgentReport {
	r := &AgentReport{Status: StatusOK, BindV6Only: -1, Service: "unknown"}
	var errs []string
	if out, err := h.Run(ctx, "cat /proc/sys/net/ipv6/bindv6only", nil); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out.Stdout))); err == nil {
			r.BindV6Only = n
		}
	}
	// is-active prints the state and exits non-zero unless active; with no
	// systemd it prints nothing on stdout.
	out, _ := h.Run(ctx, "systemctl is-active "+AgentService+" 2>/dev/null", nil)
	if s := strings.TrimSpace(string(out.Stdout)); s != "" && !strings.ContainsAny(s, " \n") {
		r.Service = s
	}
	if r.Service != "active" && r.Service != "unknown" {
		errs = append(errs, fmt.Sprintf("service %s is %s (journalctl -u %s)", AgentService, r.Service, AgentService))
	}
	if st, err := adminStatus(ctx, h, sp); err == nil {
		r.Source, r.Version, r.Draining, r.Upstreams = "admin socket", st.Version, st.Draining, st.upstreams()
	} else if ups, herr := loopbackHealth(ctx, h, sp.probe); herr == nil {
		r.Source, r.Upstreams = "health path", ups
	} else {
		errs = append(errs, fmt.Sprintf("agent status unreadable: %v; %v", err, herr))
	}
	if st, err := hostlock.Read(ctx, h, hostlock.DefaultPath); err == nil && st.Held &&
		(st.Holder.Kind == hostlock.KindDeploy || st.Holder.Kind == hostlock.KindInstall) {
		r.deploy = &DeployInfo{Source: "lock", Holder: st.Holder.Who(), Command: st.Holder.Command,
			AgeMS: st.Age.Milliseconds(), MaxMS: st.Holder.MaxMS, Overdue: st.Stale}
	}
	if r.deploy != nil && !r.deploy.Overdue {
		errs = nil // a deploy drains and restarts the agent on purpose
	} else if r.Draining {
		errs = append(errs, "agent is draining")
	}
	for _, u := range r.Upstreams {
		if u.Live == 0 && u.Total > 0 {
			r.Status = StatusFail // reported as an upstreams problem
		}
	}
	if r.Upstreams == nil {
		r.Upstreams = []Upstream{}
	}
	if len(errs) > 0 {
		r.Status, r.Error = StatusFail, h.Name()+": "+strings.Join(errs, "; ")
	}
	return r
}

// adminStatus asks the agent's admin socket for GET /status with curl.
func adminStatus(ctx context.Context, h remote.Host, sp deepSpec) (*statusBody, error) {
	if sp.admin == "" {
		return nil, fmt.Errorf("the agent has no admin socket (agent.admin is empty)")
	}
	secs := strconv.Itoa(max(1, int(sp.timeout/time.Second)))
	cmd := "curl -sS --fail --max-time " + secs + " --unix-socket " + remote.ShellQuote(sp.admin) + " http://agent/status"
	out, err := h.Run(ctx, cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", sp.admin, err)
	}
	var st statusBody
	if err := json.Unmarshal(out.Stdout, &st); err != nil {
		return nil, fmt.Errorf("admin socket %s: not the agent's status JSON: %w", sp.admin, err)
	}
	return &st, nil
}

// loopbackHealth requests the health path from the host's own loopback,
// [::1] then 127.0.0.1, through h.DialContext.
func loopbackHealth(ctx context.Context, h remote.Host, sp probeSpec) ([]Upstream, error) {
	var errs []string
	for _, ip := range []string{"::1", "127.0.0.1"} {
		res := probe.Do(ctx, probe.Request{
			Addr: net.JoinHostPort(ip, strconv.Itoa(sp.port)), Scheme: sp.scheme, Host: sp.host,
			Path: sp.path, Timeout: sp.timeout, Dial: h.DialContext,
		})
		if res.Err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", res.Addr, res.Err))
			continue
		}
		hb := parseHealth(res.Body)
		if hb == nil {
			errs = append(errs, fmt.Sprintf("%s%s: not the agent's health JSON", res.Addr, sp.path))
			continue
		}
		ups := hb.upstreams()
		if ups == nil {
			ups = []Upstream{}
		}
		return ups, nil
	}
	return nil, fmt.Errorf("health path on loopback: %s", strings.Join(errs, "; "))
}

// deepHost dials h with dialer and runs deepCheck.
func deepHost(ctx context.Context, dialer func(context.Context, fleet.Host) (remote.Host, error), h fleet.Host, sp deepSpec) *AgentReport {
	ctx, cancel := context.WithTimeout(ctx, 3*sp.timeout)
	defer cancel()
	rh, err := dialer(ctx, h)
	if err != nil {
		return &AgentReport{Status: StatusFail, BindV6Only: -1, Service: "unknown", Upstreams: []Upstream{},
			Error: fmt.Sprintf("%s: connect for --deep: %v", h.Name, err)}
	}
	defer rh.Close()
	return deepCheck(ctx, rh, sp)
}
