package diagnose

import (
	"fmt"
	"time"

	"github.com/edgectl/edgectl/probe"
)

// tlsCheck judges the certificate a TLS listener served.
func tlsCheck(kind string, s probeSpec, r probe.Result, now time.Time, timeout time.Duration) Check {
	renew := "renew it: edgectl cert renew fleet.yaml"
	if kind == "nginx" {
		renew = "renew the certificate nginx serves (ssl_certificate), then nginx -s reload"
	}
	c := Check{ID: "tls.cert", Evidence: describeProbe(s, r, timeout)}
	if r.TLS == nil {
		c.Status = StatusFail
		c.Summary = "TLS listener " + s.Addr.String() + " served no certificate"
		c.Fix = "check tls.certs_dir (agent) or ssl_certificate (nginx) and that the proxy loaded it"
		if r.Err != nil {
			c.Summary += ": " + shortErr(r.Err)
		}
		return c
	}
	t := r.TLS
	days := t.DaysLeft(now)
	c.Evidence = fmt.Sprintf("subject %s, issuer %s, serial %s, names %v, expires %s (%d days)", t.Subject, t.Issuer, t.Serial, t.DNSNames, t.NotAfter.UTC().Format(time.DateOnly), days)
	if t.VerifyError != "" {
		c.Evidence += "; verify: " + t.VerifyError
	}
	switch {
	case now.After(t.NotAfter):
		c.Status, c.Summary = StatusFail, fmt.Sprintf("certificate on %s expired on %s", s.Addr, t.NotAfter.UTC().Format(time.DateOnly))
		c.Fix = renew
	case days < 14:
		c.Status, c.Summary = StatusWarn, fmt.Sprintf("certificate on %s expires in %d days", s.Addr, days)
		c.Fix = renew
	case s.Host != "" && !t.HostnameOK:
		c.Status, c.Summary = StatusWarn, fmt.Sprintf("certificate on %s does not cover %s", s.Addr, s.Host)
		c.Fix = "issue a certificate that includes " + s.Host
	default:
		c.Status, c.Summary = StatusOK, fmt.Sprintf("certificate on %s valid for %d more days", s.Addr, days)
	}
	return c
}

// tlsChecks report the certificate the proxy serves.
func (j *judgement) tlsChecks() {
	f := j.f
	if len(f.tlsProbes) == 0 {
		sum := "the " + f.proxy.Kind + " has no TLS listener"
		if f.proxy.Kind == "" {
			sum = "not checked: no proxy named"
		}
		j.add(Check{ID: "tls.cert", Status: StatusSkip, Summary: sum})
		return
	}
	for _, o := range f.tlsProbes {
		j.add(tlsCheck(f.proxy.Kind, o.Spec, o.Res, f.now, f.o.ProbeTimeout))
	}
}
