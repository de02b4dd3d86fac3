package cli

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgectl/edgectl/provision"
)

// TestDeployPortConflictOutput: a host whose ports another program holds
// is shown with host, port, family, program and unit; the exit status is
// 2 and the message gives the exact command that takes the ports over.
func TestDeployPortConflictOutput(t *testing.T) {
	holders := []provision.PortHolder{
		{Port: 80, Addr: "0.0.0.0:80", Family: provision.FamilyIPv4, Program: "nginx", PID: 412, Unit: "nginx.service"},
		{Port: 80, Addr: "[::]:80", Family: provision.FamilyIPv6, Program: "nginx", PID: 412, Unit: "nginx.service"},
	}
	perr := &provision.PortConflictError{Conflicts: []provision.PortConflict{{Host: "vps1", Holders: holders}}}
	res := &provision.Result{Hosts: []provision.HostResult{
		{Name: "vps1", Status: provision.StatusConflict, Action: provision.ActionCutover, Summary: "not touched: ports held by another program: 80/ipv4 nginx, 80/ipv6 nginx",
			Error: holders[0].Describe() + "; " + holders[1].Describe(), Err: perr,
			Plan: &provision.Plan{Action: provision.ActionCutover, Holders: holders}},
		{Name: "vps2", Status: provision.StatusSkipped, Summary: "not touched: another program holds the agent's ports on a host"},
	}}
	ios, _, out, _ := TestIO()
	r := &rollouter{f: &Factory{IO: ios}, g: &GlobalOptions{Output: "text"}, fleetPath: "fleet.yaml",
		takeover: "edgectl " + commandLine("deploy", "fleet.yaml", []string{"vps1"}, "") + " --takeover"}
	err := r.print(res, time.Second, perr)
	var ee *ExitError
	want := "nothing was changed on any host: other programs hold the agent's ports (see above); to stop them and start the agent in their place run: edgectl deploy fleet.yaml --hosts vps1 --takeover"
	if !errors.As(err, &ee) || ee.Code != ExitUsage || ee.Err.Error() != want {
		t.Fatalf("exit: %v, want code 2 and %q", err, want)
	}
	if s := out.String(); !strings.Contains(s, "vps1: port-conflict: port 80 (ipv4, 0.0.0.0:80) is held by nginx (pid 412, unit nginx.service); port 80 (ipv6, [::]:80) is held by nginx (pid 412, unit nginx.service)\n") {
		t.Errorf("output lacks the holders:\n%s", s)
	}
	out.Reset()
	r.g.Output = "json"
	_ = r.print(res, time.Second, perr)
	var j struct {
		Error struct {
			ExitCode int `json:"exit_code"`
		} `json:"error"`
		Next  []string `json:"next"`
		Hosts []struct {
			Status string `json:"status"`
			Plan   struct {
				Action  string                 `json:"action"`
				Holders []provision.PortHolder `json:"holders"`
			} `json:"plan"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || j.Error.ExitCode != 2 || len(j.Next) != 1 ||
		j.Next[0] != "edgectl deploy fleet.yaml --hosts vps1 --takeover" || j.Hosts[0].Status != "port-conflict" ||
		j.Hosts[0].Plan.Action != "cutover" || len(j.Hosts[0].Plan.Holders) != 2 || j.Hosts[0].Plan.Holders[1].Unit != "nginx.service" {
		t.Fatalf("json: %v %+v\n%s", err, j, out.String())
	}
}
