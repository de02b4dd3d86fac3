package sweep

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgectl/edgectl/probe"
)

// Certificate thresholds, in whole days left.
const (
	// TLSWarnDays: fewer days left than this is a warning (renewal is
	// overdue: edgectl cert renews at 30 days).
	TLSWarnDays = 14
	// TLSFailDays: fewer days left than this is a failure.
	TLSFailDays = 3
)

// probeSpec is what every address of the fleet is probed with.
type probeSpec struct {
	scheme  string
	port    int
	host    string // Host header and SNI; "" = the address
	path    string
	timeout time.Duration
	roots   *x509.CertPool
	dial    probe.DialFunc
	now     func() time.Time
}

// probeAddr probes ip (no brackets, no port) and judges the result.
func probeAddr(ctx context.Context, sp probeSpec, ip string) (Target, []Upstream) {
	addr := joinPort(ip, sp.port)
	res := probe.Do(ctx, probe.Request{
		Addr: addr, Scheme: sp.scheme, Host: sp.host, Path: sp.path,
		Timeout: sp.timeout, RootCAs: sp.roots, Dial: sp.dial,
	})
	t := Target{Status: StatusOK, Address: addr, HTTPStatus: res.Status, LatencyMS: millis(res.Latency)}
	if res.TLS != nil {
		t.TLS = judgeTLS(res.TLS, sp.now(), sp.host)
	}
	var ups []Upstream
	health := parseHealth(res.Body)
	if health != nil {
		ups = health.upstreams()
		if d := health.Deploy; d != nil && d.MaxMS > 0 {
			t.deploy = &DeployInfo{Source: "health", AgeMS: d.AgeMS, MaxMS: d.MaxMS, Overdue: d.AgeMS > d.MaxMS}
		}
	}
	switch {
	case res.Err != nil:
		t.Status, t.Kind = StatusFail, string(res.Kind)
		t.Error = fmt.Sprintf("%s: %v", describeKind(res.Kind, sp.timeout), res.Err)
	case res.Status < 200 || res.Status > 299:
		t.Status, t.Kind = StatusFail, "http"
		t.Error = fmt.Sprintf("%s answered HTTP %d", sp.path, res.Status)
		if health != nil && health.Status != "" {
			t.Error += " (agent says " + health.Status + ")"
		}
	case t.TLS != nil && t.TLS.refused:
		// Clients refuse this certificate, so for them the address is down.
		t.Status, t.Kind, t.Error = StatusFail, "tls", t.TLS.Error
	}
	return t, ups
}

// describeKind turns a failure kind into words an operator acts on.
func describeKind(k probe.Kind, timeout time.Duration) string {
	switch k {
	case probe.KindRefused:
		return "connection refused (nothing listens: is the agent running?)"
	case probe.KindTimeout:
		return fmt.Sprintf("no answer within %v (dropped by a firewall, or no route on this family?)", timeout)
	case probe.KindUnreachable:
		return "unreachable (no route to this address from here)"
	case probe.KindReset:
		return "connection reset before a response"
	case probe.KindTLS:
		return "TLS handshake failed (no certificate for the domain in certs_dir?)"
	case probe.KindProtocol:
		return "not an HTTP answer (wrong sweep.scheme or port?)"
	}
	return string(k)
}

// judgeTLS rates a certificate by days left, trust and name.
func judgeTLS(info *probe.TLSInfo, now time.Time, host string) *TLSReport {
	// Floor, not DaysLeft's truncation: an hour past expiry is -1 days.
	days := int(math.Floor(info.NotAfter.Sub(now).Hours() / 24))
	r := &TLSReport{Status: StatusOK, DaysLeft: days, Issuer: info.Issuer, NotAfter: info.NotAfter, HostnameOK: info.HostnameOK}
	var why []string
	switch {
	case !now.Before(info.NotAfter):
		r.Status, r.refused = StatusFail, true
		why = append(why, fmt.Sprintf("certificate expired on %s: renew it (edgectl cert renew)", info.NotAfter.UTC().Format(time.DateOnly)))
	case days < TLSFailDays:
		r.Status = StatusFail
		why = append(why, fmt.Sprintf("certificate expires in %d days (%s): renew it now (edgectl cert renew)", days, info.NotAfter.UTC().Format(time.DateOnly)))
	case days < TLSWarnDays:
		r.Status = StatusWarn
		why = append(why, fmt.Sprintf("certificate expires in %d days (%s): renewal is overdue (edgectl cert renew)", days, info.NotAfter.UTC().Format(time.DateOnly)))
	}
	if !info.HostnameOK {
		r.Status, r.refused = StatusFail, true
		why = append(why, fmt.Sprintf("certificate does not cover %s: issue one for the fleet's domains", host))
	} else if info.VerifyError != "" && now.Before(info.NotAfter) {
		r.Status, r.refused = StatusFail, true
		why = append(why, "certificate not trusted: "+info.VerifyError+" (a private CA? pass --ca-file)")
	}
	r.Error = strings.Join(why, "; ")
	return r
}

// worseTLS picks the certificate to show for the host: the worst status,
// then the fewest days left.
func worseTLS(a, b *TLSReport) *TLSReport {
	rank := map[string]int{StatusOK: 0, StatusWarn: 1, StatusFail: 2}
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case rank[b.Status] != rank[a.Status]:
		if rank[b.Status] > rank[a.Status] {
			return b
		}
		return a
	case b.DaysLeft < a.DaysLeft:
		return b
	}
	return a
}

// healthBody is the agent's health answer: {"status","upstreams":{name:{live,total}},
// "deploy":{age_ms,max_ms}} (deploy only while a deploy marked the agent).
type healthBody struct {
	Status string `json:"status"`
	Deploy *struct {
		AgeMS int64 `json:"age_ms"`
		MaxMS int64 `json:"max_ms"`
	} `json:"deploy"`
	Upstreams map[string]struct {
		Live  int `json:"live"`
		Total int `json:"total"`
	} `json:"upstreams"`
}

func parseHealth(body []byte) *healthBody {
	var h healthBody
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &h) != nil {
		return nil
	}
	return &h
}

func (h *healthBody) upstreams() []Upstream {
	var out []Upstream
	for name, u := range h.Upstreams {
		out = append(out, Upstream{Name: name, Live: u.Live, Total: u.Total})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}

func joinPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
