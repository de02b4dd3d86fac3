package remote

import "testing"

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct{ in, user, addr string }{
		{"root@198.18.0.11", "root", "198.18.0.11:22"},
		{"ops@198.18.0.11:2222", "ops", "198.18.0.11:2222"},
		{"root@[fd00:e:d9e::11]:2222", "root", "[fd00:e:d9e::11]:2222"},
		{"root@[fd00:e:d9e::11]", "root", "[fd00:e:d9e::11]:22"},
		{"root@fd00:e:d9e::11", "root", "[fd00:e:d9e::11]:22"},
		{"bastion.example.net", "deploy", "bastion.example.net:22"},
		{"@198.18.0.11", "", ""},
		{"root@198.18.0.11:0", "", ""},
		{"root@198.18.0.11:ssh", "", ""},
		{"root@", "", ""},
	} {
		user, addr, err := ParseTarget(tc.in, "deploy")
		if tc.addr == "" {
			if err == nil {
				t.Errorf("%q: want an error, got %s %s", tc.in, user, addr)
			}
			continue
		}
		if err != nil || user != tc.user || addr != tc.addr {
			t.Errorf("%q: got %q %q %v, want %q %q", tc.in, user, addr, err, tc.user, tc.addr)
		}
	}
}
