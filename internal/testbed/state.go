package testbed

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// state is what state.json records: enough for another process (testbedctl
// down) to power hosts off and on and to remove the run.
type state struct {
	Prefix string            `json:"prefix"`
	Owner  int               `json:"owner_pid"`
	K      int               `json:"subnet"`
	Bridge string            `json:"bridge"`
	Base   string            `json:"base"`
	BindRO map[string]string `json:"bind_ro,omitempty"`
	Hosts  []*hostState      `json:"hosts"`
}

type hostState struct {
	Spec        HostSpec `json:"spec"`
	Net         hostNet  `json:"net"`
	UUID        string   `json:"uuid"`
	Fingerprint string   `json:"host_key_fingerprint"`
	PID         int      `json:"nspawn_pid"` // 0 when powered off
}

// StateFile is the name of the state file in a run directory.
const StateFile = "state.json"

// save writes state.json atomically. Callers hold b.mu or own b alone.
func (b *Bed) save() error {
	data, err := json.MarshalIndent(b.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(b.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("testbed: save state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(b.Dir, StateFile))
}

// Open returns the testbed running in dir, started by another process (for
// example testbedctl up), so that this process can Stop, Start, Run and
// Close it. Hosts booted by Start from here are children of this process.
func Open(dir string) (*Bed, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("testbed: open %s: %w; is it the --dir of a testbedctl up?", dir, err)
	}
	b := &Bed{Dir: dir, IdentityFile: filepath.Join(dir, "id_ed25519"), KnownHostsFile: filepath.Join(dir, "known_hosts")}
	if err := json.Unmarshal(data, &b.st); err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", filepath.Join(dir, StateFile), err)
	}
	for _, hs := range b.st.Hosts {
		b.Hosts = append(b.Hosts, b.newHost(hs))
	}
	return b, nil
}
