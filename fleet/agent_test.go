package fleet

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// TestAgentPositions: problems agentconfig finds in the agent: section
// point into fleet.yaml, whatever the section's style.
func TestAgentPositions(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"flow style", oneHost + "agent: {listen: [{addr: x}]}\n",
			`fleet.yaml:2:25: "x" is not host:port`},
		{"flow mapping as the route", oneHost + "agent: {routes: [{}]}\n",
			"fleet.yaml:2:18: route needs an upstream"},
		{"alias into agent from outside", oneHost + "sweep: {health_path: &p /h}\nagent:\n  routes: [{upstream: *p}]\n",
			`fleet.yaml:4:23: upstream "/h" is not defined under upstreams: none are`},
		{"the whole agent an alias", "hosts: [{name: a, ipv4: 192.0.2.1}]\nendpoints: &e {}\nagent: *e\n",
			""},
		{"after comments", oneHost + "agent:\n  # the proxy\n  upstreams:\n    # none yet\n    api: {}\n",
			"fleet.yaml:6:5: upstream has no servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("fleet.yaml", []byte(tt.in), testEnv)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse = %v\nwant %s...", err, tt.want)
			}
		})
	}
}

func TestDetachBudget(t *testing.T) {
	var root yaml.Node
	if err := yaml.Load([]byte("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"), &root); err != nil {
		t.Fatal(err)
	}
	b := root.Content[0].Content[3]
	inside := map[*yaml.Node]bool{}
	collect(b, inside)
	budget := 100
	c := detach(b, inside, false, &budget)
	if budget != 100-16 || len(c.Content) != 3 || c.Content[0].Kind != yaml.SequenceNode || c.Content[0].Anchor != "" {
		t.Errorf("copy %+v with budget left %d; want three inlined lists without anchors, 16 nodes (aliases count)", c, budget)
	}
	if c.Content[1].Line != 2 || c.Content[1].Column != 9 {
		t.Errorf("inlined alias at %d:%d, want the alias's own position 2:9", c.Content[1].Line, c.Content[1].Column)
	}
	budget = 5
	detach(b, inside, false, &budget)
	if budget >= 0 {
		t.Errorf("budget %d after copying 16 nodes with 5, want it spent", budget)
	}
}
