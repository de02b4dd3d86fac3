package provision

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/edgectl/edgectl/fleet"
	"github.com/edgectl/edgectl/remote"
)

// backendFactsScript adds the backend's sections to the facts script:
// for each of its paths (program, working_dir, env_file,
// read_write_paths) whether it exists, is a directory, and its mode and
// owner: test and stat only, so env_file is never opened. Then whether
// its user and group exist. Sections are named by index, not path, so no
// path has to survive the round trip.
func backendFactsScript(b *fleet.Backend, sec func(name, cmd string)) {
	q := remote.ShellQuote
	for i, p := range b.HostPaths() {
		qp := q(p)
		sec(fmt.Sprintf("bpath %d", i), "test -e "+qp+" && echo exists\ntest -d "+qp+" && echo dir\nstat -L -c '%a %U' -- "+qp+" 2>/dev/null")
	}
	if b.User != "" {
		sec("buser", "getent passwd "+q(b.User)+" 2>/dev/null")
		sec("bgroup", "getent group "+q(backendGroupName(b.User, b.Group))+" 2>/dev/null")
	}
}

// backendGroupName is the group a backend user runs with: backend.group,
// or the group of the user's own name.
func backendGroupName(user, group string) string {
	if group != "" {
		return group
	}
	return user
}

// parseBackendFacts reads backendFactsScript's sections. A path whose
// section is missing was not looked at and is left out (not judged).
func parseBackendFacts(b *fleet.Backend, s map[string]string) fleet.BackendHost {
	h := fleet.BackendHost{Files: map[string]fleet.HostFile{}}
	for i, p := range b.HostPaths() {
		out, ok := s[fmt.Sprintf("bpath %d", i)]
		if !ok {
			continue
		}
		var f fleet.HostFile
		for line := range strings.Lines(out) {
			switch line = strings.TrimSpace(line); line {
			case "":
			case "exists":
				f.Exists = true
			case "dir":
				f.Dir = true
			default:
				mode, owner, _ := strings.Cut(line, " ")
				if m, err := strconv.ParseUint(mode, 8, 32); err == nil {
					f.Mode, f.Owner = fs.FileMode(m), owner
				}
			}
		}
		h.Files[p] = f
	}
	h.UserExists = strings.TrimSpace(s["buser"]) != ""
	h.GroupExists = strings.TrimSpace(s["bgroup"]) != ""
	return h
}

// backendFindings is what the plan says about the backend on one host:
// fleet.CheckBackend against the host's facts (a missing program,
// working_dir, env_file or read_write_paths entry; an IPv4-only bind
// behind the agent's [::1] primary), and a socket unit an earlier deploy
// left that would hold the port the app now binds itself.
func backendFindings(f *fleet.Fleet, facts Facts, want Want, l Layout) []fleet.BackendFinding {
	if f.Backend == nil {
		return nil
	}
	out := fleet.CheckBackend(f.Backend, &f.Agent, facts.BackendHost)
	if sock := l.backendSocket(f.Backend.Name); want.BackendSocket == "" {
		if _, ok := facts.Sums[sock]; ok {
			name := f.Backend.Name + ".socket"
			out = append(out, fleet.BackendFinding{Key: "backend.socket", Severity: fleet.SeverityError, Message: fmt.Sprintf(
				"the host has %s from an earlier deploy, but backend has no socket: it would keep the port the app binds; put socket: back, or remove it on the host (systemctl disable --now %s && rm %s && systemctl daemon-reload)",
				sock, name, sock)})
		}
	}
	return out
}

// Problems are the plan's error findings: any of them keeps deploy from
// writing anything.
func (p Plan) Problems() []fleet.BackendFinding {
	var out []fleet.BackendFinding
	for _, f := range p.Findings {
		if f.Severity == fleet.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// planBackendUser decides which of the backend's user and group prepare
// creates: those the host lacks.
func (p *Plan) planBackendUser(want Want, host fleet.BackendHost) {
	if want.BackendUser == "" {
		return
	}
	group := backendGroupName(want.BackendUser, want.BackendGroup)
	if want.BackendGroup != "" && !host.GroupExists {
		p.CreateGroup = group
		p.Reasons = append(p.Reasons, fmt.Sprintf("group %s does not exist: it is created (a system group)", group))
	}
	if host.UserExists {
		return
	}
	p.CreateUser = want.BackendUser
	// The user's group: backend.group, or one of its own name (taken
	// when the host already has it, else made with the user).
	if want.BackendGroup != "" || host.GroupExists {
		p.userGroup = group
	}
	p.Reasons = append(p.Reasons, fmt.Sprintf("user %s does not exist: it is created (a system user without a login shell)", want.BackendUser))
}

// backendUserCmd creates the plan's missing backend group and user, like
// prepare creates edgectl: each only if it still does not exist, so the
// step can run twice.
func backendUserCmd(p Plan) string {
	q := remote.ShellQuote
	var b strings.Builder
	if g := p.CreateGroup; g != "" {
		fmt.Fprintf(&b, "getent group %s >/dev/null || groupadd --system %s\n", q(g), q(g))
	}
	if u := p.CreateUser; u != "" {
		gid := "--user-group"
		if p.userGroup != "" {
			gid = "--gid " + q(p.userGroup)
		}
		fmt.Fprintf(&b, "id -u %s >/dev/null 2>&1 || useradd --system %s --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin %s\n", q(u), gid, q(u))
	}
	return b.String()
}

// createBackendUser runs backendUserCmd (nothing when the host has both).
func createBackendUser(ctx context.Context, h Host, p Plan) error {
	cmd := backendUserCmd(p)
	if cmd == "" {
		return nil
	}
	h.logf("creating the backend's user %s", strings.TrimSpace(p.CreateUser+" "+p.CreateGroup))
	if err := h.run(ctx, "set -e\n"+cmd); err != nil {
		return fmt.Errorf("create the backend's user and group: %w", err)
	}
	return nil
}

// backendUnits are the units one backend restart covers.
type backendUnits struct {
	// Service is "<name>.service", Socket "<name>.socket" ("" = none).
	Service, Socket string
	// RestartSocket stops and starts the socket too (its unit changed):
	// the service is stopped first, so that the socket can take the port
	// an app binding its own sockets held.
	RestartSocket bool
}

// restartCmd enables the units and restarts them. A service that requires
// its socket starts it, so an unchanged socket keeps its listening socket
// (and the connections waiting in its backlog) across the restart.
func (u backendUnits) restartCmd() string {
	q := remote.ShellQuote
	if u.Socket == "" {
		return "systemctl enable --quiet -- " + q(u.Service) + " && systemctl restart -- " + q(u.Service)
	}
	both := q(u.Socket) + " " + q(u.Service)
	if u.RestartSocket {
		return "systemctl enable --quiet -- " + both + " && systemctl stop -- " + q(u.Service) + " " + q(u.Socket) + " && systemctl start -- " + both
	}
	return "systemctl enable --quiet -- " + both + " && systemctl restart -- " + q(u.Service)
}

// backendUnits are the plan's backend units.
func (p Plan) backendUnits() backendUnits {
	return backendUnits{Service: p.Backend + ".service", Socket: p.BackendSocket, RestartSocket: p.BackendSocketRestart}
}

// socketChanged reports whether j's run created or replaced the backend's
// socket unit (whose restart it may not have reached).
func (j *Journal) socketChanged() bool {
	for _, f := range j.Files {
		if path.Base(f.Path) == j.Backend+".socket" && (f.Op == OpCreate || f.Op == OpUpdate) {
			return true
		}
	}
	return false
}

// backendUnits are the backend units a rollback of j restarts: the socket
// unit the run created is gone again, one it replaced is back and is
// restarted too.
func (j *Journal) backendUnits(l Layout) backendUnits {
	u := backendUnits{Service: j.Backend + ".service", Socket: j.BackendSocket}
	if jf := j.file(l.backendSocket(j.Backend)); jf != nil {
		switch jf.Op {
		case OpCreate:
			u.Socket = ""
		case OpUpdate:
			u.Socket, u.RestartSocket = j.Backend+".socket", true
		}
	}
	return u
}

// PlanProblemError is returned by Deploy when the plan of some hosts has
// problems (fleet.yaml asks for what a host does not have, such as a
// missing env_file): nothing was written to any host.
type PlanProblemError struct {
	// Hosts are the names of the hosts with problems, in fleet order.
	Hosts []string
}

func (e *PlanProblemError) Error() string {
	return "the plan found problems on " + strings.Join(e.Hosts, ", ") + " (see above); nothing was changed on any host"
}

// HostProblemError is one host's plan problems.
type HostProblemError struct {
	Host     string
	Problems []fleet.BackendFinding
}

func (e *HostProblemError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Key + ": " + p.Message
	}
	return "not touched: " + strings.Join(msgs, "; ")
}

// refuseProblems marks every planned host whose plan has problems
// aborted, before anything is written anywhere.
func refuseProblems(live []*hostState) error {
	var hosts []string
	for _, st := range live {
		if st.res.Status != "" {
			continue
		}
		probs := st.plan.Problems()
		if len(probs) == 0 {
			continue
		}
		err := &HostProblemError{Host: st.host.Name, Problems: probs}
		st.res.Status, st.res.Summary = StatusAborted, fmt.Sprintf("not touched: the plan has %s", plural(len(probs), "problem"))
		st.res.Error, st.res.Err = err.Error(), err
		hosts = append(hosts, st.host.Name)
	}
	if len(hosts) == 0 {
		return nil
	}
	return &PlanProblemError{Hosts: hosts}
}
