package agent

import "testing"

func TestEscapeTarget(t *testing.T) {
	for in, want := range map[string]string{
		"/":                      "/",
		"/a/b?x=1&y=2":           "/a/b?x=1&y=2",
		"/%41%zz":                "/%41%25zz",
		"/\"><script>":           "/%22%3E%3Cscript%3E",
		"/\\evil":                "/%5Cevil",
		"/é":                     "/%C3%A9",
		"/a#frag":                "/a%23frag",
		"/{x}|^`":                "/%7Bx%7D%7C%5E%60",
		"//evil.test/":           "//evil.test/",
		"/ok-._~!$&'()*+,;=:@/?": "/ok-._~!$&'()*+,;=:@/?",
		"/%":                     "/%25",
		"/%4":                    "/%254",
	} {
		if got := escapeTarget([]byte(in)); got != want {
			t.Errorf("escapeTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthDetailsOnlyOnHost(t *testing.T) {
	for remote, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "::ffff:127.0.0.1": true,
		"198.18.0.7": false, "fd00::7": false, "": false, "garbage": false,
	} {
		if got := onHost(remote); got != want {
			t.Errorf("onHost(%q) = %v, want %v", remote, got, want)
		}
	}
}
