package agent

import "testing"

func TestCheckPprofAddr(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true}, {"[::1]:6060", true}, {"localhost:6060", true}, {"127.9.9.9:6060", true},
		{"[::ffff:127.0.0.1]:6060", true},
		{":6060", false}, {"0.0.0.0:6060", false}, {"[::]:6060", false}, {"198.18.0.1:6060", false},
		{"example.com:6060", false}, {"127.0.0.1", false}, {"127.0.0.1:", false},
	} {
		if err := CheckPprofAddr(tt.addr); (err == nil) != tt.ok {
			t.Errorf("CheckPprofAddr(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}
