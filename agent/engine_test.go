package agent

import (
	"runtime"
	"strings"
	"testing"

	"github.com/edgectl/edgectl/agentconfig"
	"github.com/edgectl/edgectl/proxy"
)

// TestChooseEngine: EDGECTL_ENGINE picks the engine of the plain HTTP
// listeners; the event loops are the default on Linux.
func TestChooseEngine(t *testing.T) {
	def := "goroutines"
	if runtime.GOOS == "linux" {
		def = "loops"
	}
	tests := []struct{ env, want, err string }{
		{"", def, ""},
		{"goroutines", "goroutines", ""},
		{"loops", "loops", ""},
		{"epoll", "", "EDGECTL_ENGINE=epoll: unknown engine (want loops or goroutines)"},
	}
	cfg, err := agentconfig.Parse("agent.yaml", []byte("listen:\n  - addr: \"127.0.0.1:18999\"\nadmin: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := proxy.NewTable(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	for _, tt := range tests {
		if tt.want == "loops" && runtime.GOOS != "linux" {
			continue
		}
		a := &Agent{handler: proxy.NewHandler(tbl)}
		err := a.chooseEngine(tt.env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("EDGECTL_ENGINE=%q: error %v, want %q", tt.env, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("EDGECTL_ENGINE=%q: %v", tt.env, err)
		}
		if got := a.handler.Engine(); got != tt.want {
			t.Errorf("EDGECTL_ENGINE=%q: engine %s, want %s", tt.env, got, tt.want)
		}
		// The loops run with a P to spare, however often an engine is
		// chosen in one process.
		if got := runtime.GOMAXPROCS(0); tt.want == "loops" && got != loopCPUs()+1 {
			t.Errorf("EDGECTL_ENGINE=%q: GOMAXPROCS %d with %d loops, want one more", tt.env, got, loopCPUs())
		}
		a.handler.StopLoops()
	}
}
