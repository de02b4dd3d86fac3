package agent

import (
	"encoding/json"
	"time"

	"github.com/edgectl/edgectl/proxy"
)

// healthBody is the agent's health answer.
type healthBody struct {
	Status   string                    `json:"status"` // healthy | degraded | draining
	Service  string                    `json:"service"`
	Version  string                    `json:"version"`
	Upstream map[string]upstreamHealth `json:"upstreams"`
}

type upstreamHealth struct {
	Live  int `json:"live"`
	Total int `json:"total"`
}

// local answers the paths the agent serves itself, before routing.
func (a *Agent) local(r *proxy.LocalRequest) *proxy.LocalResponse {
	if string(r.Path) == a.cfg.HealthPath {
		return a.health()
	}
	return nil
}

// health is 200 while serving ("degraded" when an upstream has no live
// server, so gates can tell) and 503 from the moment a drain starts.
func (a *Agent) health() *proxy.LocalResponse {
	b := healthBody{Status: "healthy", Service: "edgectl-agent", Version: a.Version, Upstream: map[string]upstreamHealth{}}
	for _, us := range a.handler.Table().Status(time.Now()) {
		b.Upstream[us.Name] = upstreamHealth{Live: us.Live, Total: us.Total}
		if us.Live == 0 {
			b.Status = "degraded"
		}
	}
	status := 200
	if a.draining.Load() {
		b.Status, status = "draining", 503
	}
	body, _ := json.Marshal(b)
	body = append(body, '\n')
	return &proxy.LocalResponse{
		Status: status,
		Header: []string{"Content-Type", "application/json", "Cache-Control", "no-store"},
		Body:   body,
	}
}
