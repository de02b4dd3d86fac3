package provision

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/hostlock"
	"github.com/edgectl/edgectl/remote"
	"github.com/edgectl/edgectl/remote/remotetest"
)

const appExec = "/opt/app -listen [::]:8000"

// host deploys and returns the one host's result.
func (m *model) host(t *testing.T, f *fleet.Fleet, bin string, tune func(*Options)) HostResult {
	t.Helper()
	res, err := m.deploy(t, f, bin, tune)
	return status(t, res, err)
}

func status(t *testing.T, res *Result, err error) HostResult {
	t.Helper()
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(res.Hosts) != 1 {
		t.Fatalf("hosts %+v", res.Hosts)
	}
	return res.Hosts[0]
}

func TestDeployInstallThenNothing(t *testing.T) {
	m := newModel(t)
	f := deployFleet(t, "60s", appExec)
	h := m.host(t, f, "bin-v1", nil)
	if h.Status != StatusDeployed || h.Action != ActionInstall {
		t.Fatalf("first deploy: %+v", h)
	}
	m.state(t, m.want(t, f, "bin-v1"))
	if j := m.journal(t); j == nil || j.State != JournalDeployed || !j.done(StepAgent) {
		t.Fatalf("journal after the first deploy: %+v", j)
	}
	m.ResetLog()
	h = m.host(t, f, "bin-v1", nil)
	if h.Status != StatusUnchanged {
		t.Fatalf("second deploy: %+v", h)
	}
	for _, op := range m.Log() {
		if strings.HasPrefix(op, "write ") && !strings.Contains(op, "lock") {
			t.Errorf("a no-change deploy wrote %s", op)
		}
	}
}

// TestDeployRepairsWhatHashesMiss: content right but owner wrong, and a
// config on disk the agent never loaded, are not "unchanged".
func TestDeployRepairsWhatHashesMiss(t *testing.T) {
	m := newModel(t)
	f := deployFleet(t, "60s", appExec)
	m.host(t, f, "bin-v1", nil)
	n := m.File(m.layout.AgentConfig)
	n.Owner = "root:root" // a deploy killed between rename and chown, before this version
	m.mu.Lock()
	m.agentSum = "something older"
	m.mu.Unlock()
	h := m.host(t, f, "bin-v1", nil)
	if h.Status != StatusDeployed || !strings.Contains(h.Summary, "agent.yaml owner/mode") {
		t.Fatalf("repair: %+v", h)
	}
	m.state(t, m.want(t, f, "bin-v1"))
}

// TestGateFailsFastOnRestartLoop: a backend that exits 1 fails the gate
// at once (not after health_timeout), with its journal, and the old
// backend unit is back and running.
func TestGateFailsFastOnRestartLoop(t *testing.T) {
	m := newModel(t)
	good := deployFleet(t, "60s", appExec)
	m.host(t, good, "bin-v1", nil)
	bad := deployFleet(t, "60s", "/opt/app --exit 1")
	start := time.Now()
	h := m.host(t, bad, "bin-v1", nil)
	if h.Status != StatusRolledBack || h.Step != StepGate || !strings.Contains(h.Error, "restart-looping") || !strings.Contains(h.Error, "status 1") {
		t.Fatalf("bad backend: %+v", h)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the gate took %s: it should fail at the first look, not at health_timeout (3s)", took)
	}
	if !strings.Contains(h.Logs["app.service"], "cannot bind") {
		t.Errorf("the backend's journal is not in the result: %v", h.Logs)
	}
	m.state(t, m.want(t, good, "bin-v1"))
}

func TestNoSpaceChangesNothing(t *testing.T) {
	m := newModel(t)
	f := deployFleet(t, "60s", appExec)
	m.host(t, f, "bin-v1", nil)
	m.SetFree("/usr/local/bin", 100<<10)
	h := m.host(t, f, "bin-v2", nil)
	if h.Status != StatusAborted || !strings.Contains(h.Error, "no space on vps1:/usr/local/bin, need 2 MB (100 KB free)") {
		t.Fatalf("no space: %+v", h)
	}
	m.SetFree("/usr/local/bin", 1<<30)
	m.state(t, m.want(t, f, "bin-v1"))
}

func TestBadConfigRejectedBeforeReplacing(t *testing.T) {
	m := newModel(t)
	f := deployFleet(t, "60s", appExec)
	m.host(t, f, "bin-v1", nil)
	bad := deployFleet(t, "60s", appExec)
	bad.AgentYAML = append(bad.AgentYAML, []byte("# invalid\n")...)
	h := m.host(t, bad, "bin-v1", nil)
	if h.Status != StatusRolledBack || h.Step != StepCheck || !strings.Contains(h.Error, "/etc/edgectl/agent.yaml:3:5") {
		t.Fatalf("bad config: %+v", h)
	}
	m.state(t, m.want(t, f, "bin-v1"))
}

// TestKilledAtEveryStep kills the deploy before each step (nothing it
// does after reaches the host), then runs deploy again: the rerun finds
// the journal and converges, and a rerun whose gate fails instead goes
// back to the version before the killed run, in full.
func TestKilledAtEveryStep(t *testing.T) {
	for _, step := range []string{StepPrepare, StepJournal, StepBackup, StepUpload, StepCheck, StepInstall, StepDaemonReload, StepBackend, StepAgent, StepGate} {
		t.Run(step, func(t *testing.T) {
			m := newModel(t)
			v1 := deployFleet(t, "60s", appExec)
			m.host(t, v1, "bin-v1", nil)
			v2 := deployFleet(t, "61s", "/opt/app -listen [::]:8000 -v2")
			h := m.host(t, v2, "bin-v2", func(o *Options) {
				o.Holder = deadHolder(t)
				o.Step = func(_, s string) {
					if s == step {
						m.kill(true)
					}
				}
			})
			m.kill(false)
			if h.Status == StatusDeployed || h.Status == StatusUnchanged {
				t.Fatalf("killed at %s, the run reported %s", step, h.Status)
			}
			// The rerun converges to v2, taking over the dead run's lock.
			h = m.host(t, v2, "bin-v2", nil)
			if h.Status != StatusDeployed {
				t.Fatalf("rerun after a kill at %s: %+v\n%s", step, h, strings.Join(m.Log(), "\n"))
			}
			m.state(t, m.want(t, v2, "bin-v2"))
		})
		t.Run(step+" then a failing rerun goes back to v1", func(t *testing.T) {
			m := newModel(t)
			v1 := deployFleet(t, "60s", appExec)
			m.host(t, v1, "bin-v1", nil)
			v2 := deployFleet(t, "61s", "/opt/app -listen [::]:8000 -v2")
			m.host(t, v2, "bin-v2", func(o *Options) {
				o.Holder = deadHolder(t)
				o.Step = func(_, s string) {
					if s == step {
						m.kill(true)
					}
				}
			})
			m.kill(false)
			bad := deployFleet(t, "61s", "/opt/app --exit 1")
			h := m.host(t, bad, "bin-v2", nil)
			if h.Status != StatusRolledBack {
				t.Fatalf("failing rerun after a kill at %s: %+v", step, h)
			}
			m.state(t, m.want(t, v1, "bin-v1"))
		})
	}
}

// TestStopRollsBack: a stop (SIGINT or SIGTERM) at any step rolls the
// host back to the previous version and says so.
func TestStopRollsBack(t *testing.T) {
	for _, step := range []string{StepBackup, StepUpload, StepInstall, StepBackend, StepAgent, StepGate} {
		t.Run(step, func(t *testing.T) {
			m := newModel(t)
			v1 := deployFleet(t, "60s", appExec)
			m.host(t, v1, "bin-v1", nil)
			v2 := deployFleet(t, "61s", "/opt/app -listen [::]:8000 -v2")
			stop, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := m.deploy(t, v2, "bin-v2", func(o *Options) {
				o.Stop = stop
				o.Step = func(_, s string) {
					if s == step {
						cancel()
					}
				}
			})
			h := status(t, res, err)
			if h.Status != StatusRolledBack || !errors.Is(h.Err, ErrStopped) || !res.Interrupted {
				t.Fatalf("stop at %s: %+v (interrupted %v)", step, h, res.Interrupted)
			}
			m.state(t, m.want(t, v1, "bin-v1"))
		})
	}
}

// TestGateSurvivesBrokenConnection: the connection breaks for a while
// during the gate; the gate dials again and judges the host, which is
// healthy.
func TestGateSurvivesBrokenConnection(t *testing.T) {
	m := newModel(t)
	v1 := deployFleet(t, "60s", appExec)
	m.host(t, v1, "bin-v1", nil)
	var broken atomic.Bool
	var until atomic.Int64
	kill := m.Fail
	m.Fail = func(op string, args []string) error {
		if broken.Load() && time.Now().UnixNano() < until.Load() {
			return remotetest.Broken("vps1")
		}
		return kill(op, args)
	}
	dials := 0
	v2 := deployFleet(t, "61s", appExec)
	h := m.host(t, v2, "bin-v1", func(o *Options) {
		o.Dial = func(ctx context.Context, _ fleet.Host) (remote.Host, error) {
			dials++
			if time.Now().UnixNano() < until.Load() {
				return nil, errors.New("connect: no route to host")
			}
			return m, nil
		}
		o.Step = func(_, s string) {
			if s == StepGate {
				until.Store(time.Now().Add(4 * time.Second).UnixNano()) // longer than health_timeout
				broken.Store(true)
			}
		}
	})
	if h.Status != StatusDeployed || dials < 2 {
		t.Fatalf("gate through a broken connection: %+v (dials %d)", h, dials)
	}
	m.state(t, m.want(t, v2, "bin-v1"))
}

func TestLockHeldStopsEverything(t *testing.T) {
	m := newModel(t)
	v1 := deployFleet(t, "60s", appExec)
	m.host(t, v1, "bin-v1", nil)
	other := hostlock.Self(hostlock.KindDeploy, "deploy other.yaml", time.Hour)
	other.MachineID, other.User, other.Machine = "elsewhere", "alice", "laptop"
	if _, err := hostlock.Acquire(context.Background(), m, other, hostlock.Options{Path: m.layout.Lock()}); err != nil {
		t.Fatal(err)
	}
	m.ResetLog()
	res, err := m.deploy(t, deployFleet(t, "61s", appExec), "bin-v1", nil)
	var le *LockedError
	if !errors.As(err, &le) || res.Hosts[0].Status != StatusLocked || !strings.Contains(err.Error(), "alice@laptop") {
		t.Fatalf("deploy under another's lock: %v %+v", err, res)
	}
	for _, op := range m.Log() {
		if strings.HasPrefix(op, "write ") || strings.HasPrefix(op, "mv ") {
			t.Errorf("wrote under another's lock: %s", op)
		}
	}
	// --force-unlock takes it, naming whom it removed.
	h := m.host(t, deployFleet(t, "61s", appExec), "bin-v1", func(o *Options) { o.ForceUnlock = true })
	if h.Status != StatusDeployed || !strings.Contains(strings.Join(h.Notes, " "), "alice@laptop") {
		t.Fatalf("forced: %+v", h)
	}
}
