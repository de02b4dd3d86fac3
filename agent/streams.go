package agent

import (
	"context"
	"net"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/proxy"
)

// streamListener is one `streams:` entry: an L4 TCP listener proxied to an
// upstream's servers.
type streamListener struct {
	cfg agentconfig.Stream
	ln  net.Listener
	sp  *proxy.StreamProxy
}

// markStreamUpstreams switches upstreams used by streams to TCP-connect
// health checks.
func markStreamUpstreams(cfg *agentconfig.Config, t *proxy.Table) {
	for _, s := range cfg.Streams {
		if u := t.Upstreams[s.Upstream]; u != nil {
			u.UseTCPHealthCheck()
		}
	}
}

// syncStreams opens new stream listeners, repoints kept ones at the new
// table's pools and closes removed ones (their connections finish).
func (a *Agent) syncStreams(ctx context.Context, cfg *agentconfig.Config, t *proxy.Table) error {
	want := map[string]agentconfig.Stream{}
	for _, s := range cfg.Streams {
		want[s.Listen] = s
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for addr, sl := range a.streams {
		s, ok := want[addr]
		if !ok {
			_ = sl.ln.Close()
			delete(a.streams, addr)
			a.Log.Info("stream listener closed", "addr", addr)
			continue
		}
		sl.cfg = s
		sl.sp.SetUpstream(t.Upstreams[s.Upstream])
	}
	for addr, s := range want {
		if a.streams[addr] != nil {
			continue
		}
		raw, err := a.listen(ctx, addr)
		if err != nil {
			return err
		}
		ln := a.conns.wrap(raw, kindStream)
		sl := &streamListener{cfg: s, ln: ln, sp: proxy.NewStreamProxy(t.Upstreams[s.Upstream], a.Log)}
		a.streams[addr] = sl
		a.Log.Info("stream listening", "addr", ln.Addr().String(), "upstream", s.Upstream)
		go func() { _ = sl.sp.Serve(ln) }()
	}
	return nil
}

// drainStreams waits for proxied TCP connections to end (or ctx).
func (a *Agent) drainStreams(ctx context.Context) {
	a.mu.Lock()
	sls := make([]*streamListener, 0, len(a.streams))
	for _, sl := range a.streams {
		sls = append(sls, sl)
	}
	a.mu.Unlock()
	for _, sl := range sls {
		_ = sl.sp.Drain(ctx)
	}
}
