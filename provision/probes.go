package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/probe"
	"github.com/edgectl/edgectl/remote"
)

// probes runs the probes; down is set when one through SSH failed because
// the connection did.
func (g Gate) probes(ctx context.Context, h remote.Host) (fails []string, down error) {
	type job struct {
		what  string
		viaH  bool
		probe func() probe.Result
		judge func(probe.Result) string
	}
	var jobs []job
	onHost := []string{"127.0.0.1"}
	if g.Loopback6 {
		onHost = append([]string{"::1"}, onHost...)
	}
	for _, ip := range onHost {
		addr := net.JoinHostPort(ip, strconv.Itoa(g.Port))
		jobs = append(jobs, job{"agent on " + addr, true, func() probe.Result {
			return probe.Do(ctx, probe.Request{Addr: addr, Scheme: g.Scheme, Path: g.Path, Timeout: g.ProbeTimeout, Dial: h.DialContext})
		}, agentHealth})
	}
	for _, ip := range g.Public {
		addr := net.JoinHostPort(ip, strconv.Itoa(g.Port))
		jobs = append(jobs, job{"public " + addr, false, func() probe.Result {
			return probe.Do(ctx, probe.Request{Addr: addr, Scheme: g.Scheme, Path: g.Path, Timeout: g.ProbeTimeout, Dial: g.Local})
		}, describe})
	}
	if g.Backend != "" {
		if u, err := url.Parse(g.Backend); err == nil {
			port := u.Port()
			if port == "" {
				port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			addr := net.JoinHostPort(u.Hostname(), port)
			jobs = append(jobs, job{"backend " + g.Backend, true, func() probe.Result {
				return probe.Do(ctx, probe.Request{Addr: addr, Scheme: u.Scheme, Path: u.RequestURI(), Timeout: g.ProbeTimeout, Dial: h.DialContext})
			}, describe})
		} else {
			fails = append(fails, "backend "+g.Backend+": "+err.Error())
		}
	}
	results := make([]probe.Result, len(jobs))
	done := make(chan struct{}, len(jobs))
	for i, j := range jobs {
		go func() {
			results[i] = j.probe()
			done <- struct{}{}
		}()
	}
	for range jobs {
		<-done
	}
	for i, j := range jobs {
		r := results[i]
		if j.viaH && r.Err != nil && remote.Broken(r.Err) && !isProbeErr(r) {
			down = r.Err
		}
		if msg := j.judge(r); msg != "" {
			fails = append(fails, j.what+": "+msg)
		}
	}
	return fails, down
}

// isProbeErr tells an answer from the target (refused, reset, timeout of
// the target itself) from a failure of the SSH transport carrying it.
func isProbeErr(r probe.Result) bool {
	switch r.Kind {
	case probe.KindRefused, probe.KindUnreachable, probe.KindReset, probe.KindTLS, probe.KindProtocol:
		return true
	}
	return false
}

// agentHealth judges the agent's health answer: every upstream must have
// all its servers live.
func agentHealth(r probe.Result) string {
	if msg := describe(r); msg != "" {
		return msg
	}
	var body struct {
		Status    string `json:"status"`
		Upstreams map[string]struct {
			Live, Total int
		} `json:"upstreams"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return "health answer is not the agent's JSON: " + err.Error()
	}
	var bad []string
	for name, u := range body.Upstreams {
		if u.Live < u.Total {
			bad = append(bad, fmt.Sprintf("%s %d/%d servers live", name, u.Live, u.Total))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		return "upstream " + strings.Join(bad, ", ")
	}
	return ""
}

// describe is "" for a 2xx and a short reason otherwise.
func describe(r probe.Result) string {
	if r.Err != nil {
		return fmt.Sprintf("%s (%v)", r.Kind, r.Err)
	}
	if r.Status < 200 || r.Status > 299 {
		return fmt.Sprintf("HTTP %d %s", r.Status, strings.TrimSpace(string(firstLine(r.Body))))
	}
	return ""
}

func firstLine(b []byte) []byte {
	if i := strings.IndexByte(string(b), '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return b
}
