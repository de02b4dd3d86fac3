package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/templates"
)

// File is one file deploy manages on a host.
type File struct {
	// Path on the host.
	Path string `json:"path"`
	// Mode and Owner ("user:group") it must have.
	Mode  fs.FileMode `json:"mode"`
	Owner string      `json:"owner"`
	// Text files get a diff in --dry-run; the binary gets its hash.
	Text bool `json:"-"`
	// Data is the content; Sum its SHA-256.
	Data []byte `json:"-"`
	Sum  string `json:"sha256"`
}

func newFile(path string, mode fs.FileMode, owner string, text bool, data []byte) File {
	s := sha256.Sum256(data)
	return File{Path: path, Mode: mode, Owner: owner, Text: text, Data: data, Sum: hex.EncodeToString(s[:])}
}

// Want is what a host should have, computed from fleet.yaml.
type Want struct {
	// Files in the order they are written: the binary, configs, units.
	Files []File
	// Backend is the backend unit name ("" = none).
	Backend string
	// BackendSocket is the backend's socket unit ("mop-api.socket"; "" =
	// the app binds its own sockets).
	BackendSocket string
	// BackendUser and BackendGroup run the backend ("" = a dynamic user,
	// or the user's own group); prepare creates them when missing.
	BackendUser, BackendGroup string
}

// Desired computes the files for one host. binary is the edgectl binary
// for the host's architecture; facts decide the sysctl drop-in, which is
// only written where it is needed (bindv6only=1 with a backend that binds
// [::] itself, without socket:) and then kept.
func Desired(f *fleet.Fleet, l Layout, binary []byte, facts Facts) (Want, error) {
	var w Want
	w.Files = append(w.Files, newFile(l.Binary, 0o755, "root:root", false, binary))
	w.Files = append(w.Files, newFile(l.AgentConfig, 0o640, "root:edgectl", true, templates.AgentYAML(f.AgentYAML)))
	// The failover list is written when the fleet has something to list
	// (install on one box has no fleet, and keeps its own file).
	if domains, ips := f.ClientEndpoints(); f.Agent.Endpoints.File != "" && len(domains)+len(ips) > 0 {
		ep := f.Agent.Endpoints.File
		w.Files = append(w.Files, newFile(ep, 0o644, "root:root", true, templates.Endpoints(domains, ips)))
	}
	if f.Backend != nil {
		bu := templates.BackendFromFleet(f.Backend)
		w.Backend, w.BackendSocket = bu.Name, bu.SocketUnitName()
		w.BackendUser, w.BackendGroup = bu.User, bu.Group
		// The socket unit first: the service requires it.
		if w.BackendSocket != "" {
			sock, err := templates.RenderBackendSocket(bu)
			if err != nil {
				return w, err
			}
			w.Files = append(w.Files, newFile(l.backendSocket(bu.Name), 0o644, "root:root", true, sock))
		}
		unit, err := templates.RenderBackendUnit(bu)
		if err != nil {
			return w, err
		}
		w.Files = append(w.Files, newFile(l.backendUnit(bu.Name), 0o644, "root:root", true, unit))
		// A socket unit listens with BindIPv6Only=both itself: the host's
		// bindv6only does not matter to it.
		_, managed := facts.Sums[l.sysctl()]
		if (facts.BindV6Only == 1 && bu.Socket == "") || managed {
			sc, err := templates.RenderSysctl([]templates.Sysctl{{Key: "net.ipv6.bindv6only", Value: "0",
				Reason: "the backend binds [::]; with bindv6only=1 a socket that does not set IPV6_V6ONLY itself refuses IPv4 (the agent's 127.0.0.1 backup)"}})
			if err != nil {
				return w, err
			}
			w.Files = append(w.Files, newFile(l.sysctl(), 0o644, "root:root", true, sc))
		}
	}
	stop := f.Agent.Drain.Delay + f.Agent.Drain.Timeout + 10*time.Second
	unit, err := templates.RenderAgentUnit(templates.AgentUnit{
		Binary: l.Binary, Config: l.AgentConfig, StopTimeout: stop,
		ReadWritePaths: []string{l.RunDir, l.StateDir}, Backend: w.Backend,
	})
	if err != nil {
		return w, err
	}
	w.Files = append(w.Files, newFile(l.agentUnit(), 0o644, "root:root", true, unit))
	return w, nil
}

// Paths lists the files' paths (for Gather).
func (w Want) Paths() []string {
	out := make([]string, len(w.Files))
	for i, f := range w.Files {
		out[i] = f.Path
	}
	return out
}

// ManagedPaths lists every path deploy may manage on a host, so facts
// include the sysctl drop-in and the backend's socket unit even when this
// deploy would not write them.
func ManagedPaths(f *fleet.Fleet, l Layout) []string {
	out := []string{l.Binary, l.AgentConfig, l.agentUnit(), l.sysctl()}
	if ep := f.Agent.Endpoints.File; ep != "" {
		out = append(out, ep)
	}
	if f.Backend != nil {
		out = append(out, l.backendSocket(f.Backend.Name), l.backendUnit(f.Backend.Name))
	}
	return out
}
