// Package agent is the on-host runtime behind `edgectl agent`: it opens the
// dual-stack listeners, runs the proxy data plane with its health checks,
// answers the agent's own paths (health), serves the admin socket (/status,
// /metrics) and drains gracefully on shutdown.
package agent
