package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// endpointsFiles are written to a temporary directory; "$DIR" in a test's
// arguments and expected output stands for it.
var endpointsFiles = map[string]string{
	"small.txt": "# two hosts\nDomainList:\napi.example.com\nIPList:\n2001:db8::7\n",
	"dups.txt":  "DomainList:\na.example, A.EXAMPLE\nIPList:\n192.0.2.1\n192.0.2.1 # again\n",
	"empty.txt": "DomainList:\nIPList:\n",
	"bad.txt":   "DomainList:\nok.example\nex ample.com, x_y.example\nIPList:\n192.0.2.1, 192.0.2.999\nfe80::1%eth0\n",
}

const smallJSON = `{
  "api_endpoints": [
    {
      "url": "https://api.example.com/api/v1",
      "priority": 0
    },
    {
      "url": "https://[2001:db8::7]/api/v1",
      "priority": 1
    }
  ],
  "socketio_endpoints": [
    {
      "url": "https://api.example.com",
      "priority": 0
    },
    {
      "url": "https://[2001:db8::7]",
      "priority": 1
    }
  ]
}
`

const smallPortJSON = `{
  "api_endpoints": [
    {
      "url": "http://api.example.com:8443/v2",
      "priority": 0
    },
    {
      "url": "http://[2001:db8::7]:8443/v2",
      "priority": 1
    }
  ],
  "socketio_endpoints": [
    {
      "url": "http://api.example.com:8443/socket.io",
      "priority": 0
    },
    {
      "url": "http://[2001:db8::7]:8443/socket.io",
      "priority": 1
    }
  ]
}
`

const badStderr = `$DIR/bad.txt:3:1: "ex ample.com" is not a valid hostname: label "ex ample" contains ' '
$DIR/bad.txt:3:15: "x_y.example" is not a valid hostname: label "x_y" contains '_'
$DIR/bad.txt:5:12: "192.0.2.999" is not a valid IP address
$DIR/bad.txt:6:1: "fe80::1%eth0" is not a valid IP address: remove the zone "%eth0"; a zone only means something on one host
edgectl: $DIR/bad.txt is invalid (4 problems)
`

const badJSON = `{
  "error": {
    "message": "$DIR/bad.txt is invalid (4 problems)",
    "exit_code": 2,
    "problems": [
      {
        "file": "$DIR/bad.txt",
        "line": 3,
        "col": 1,
        "message": "\"ex ample.com\" is not a valid hostname: label \"ex ample\" contains ' '"
      },
      {
        "file": "$DIR/bad.txt",
        "line": 3,
        "col": 15,
        "message": "\"x_y.example\" is not a valid hostname: label \"x_y\" contains '_'"
      },
      {
        "file": "$DIR/bad.txt",
        "line": 5,
        "col": 12,
        "message": "\"192.0.2.999\" is not a valid IP address"
      },
      {
        "file": "$DIR/bad.txt",
        "line": 6,
        "col": 1,
        "message": "\"fe80::1%eth0\" is not a valid IP address: remove the zone \"%eth0\"; a zone only means something on one host"
      }
    ]
  }
}
`

func TestEndpointsCommands(t *testing.T) {
	dir := t.TempDir()
	for name, content := range endpointsFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "render defaults", args: []string{"endpoints", "render", "$DIR/small.txt"}, wantStdout: smallJSON},
		{
			name:       "render with every flag",
			args:       []string{"endpoints", "render", "$DIR/small.txt", "--protocol", "http", "--api-path", "/v2", "--socket-path", "/socket.io", "--default-port", "8443"},
			wantStdout: smallPortJSON,
		},
		{
			name:       "render flags from the environment",
			args:       []string{"endpoints", "render", "$DIR/small.txt", "--protocol", "http"},
			env:        map[string]string{"EDGECTL_ENDPOINTS_PROTOCOL": "https", "EDGECTL_ENDPOINTS_API_PATH": "/v2", "EDGECTL_ENDPOINTS_SOCKET_PATH": "/socket.io", "EDGECTL_ENDPOINTS_DEFAULT_PORT": "8443"},
			wantStdout: smallPortJSON,
		},
		{
			name:       "render an empty file is an error",
			args:       []string{"endpoints", "render", "$DIR/empty.txt"},
			wantCode:   2,
			wantStderr: "$DIR/empty.txt:1: no domains or IPs: clients would get an empty list and nowhere to fail over to; add at least one under DomainList: or IPList:\nedgectl: $DIR/empty.txt is invalid (1 problem)\n",
		},
		{
			name:       "render drops duplicates with warnings",
			args:       []string{"endpoints", "render", "$DIR/dups.txt", "--default-port", "443"},
			wantStdout: "{\n  \"api_endpoints\": [\n    {\n      \"url\": \"https://a.example:443/api/v1\",\n      \"priority\": 0\n    },\n    {\n      \"url\": \"https://192.0.2.1:443/api/v1\",\n      \"priority\": 1\n    }\n  ],\n  \"socketio_endpoints\": [\n    {\n      \"url\": \"https://a.example:443\",\n      \"priority\": 0\n    },\n    {\n      \"url\": \"https://192.0.2.1:443\",\n      \"priority\": 1\n    }\n  ]\n}\n",
			wantStderr: "$DIR/dups.txt:2: duplicate \"A.EXAMPLE\" dropped\n$DIR/dups.txt:5: duplicate \"192.0.2.1\" dropped\n",
		},
		{name: "render invalid file names every bad value", args: []string{"endpoints", "render", "$DIR/bad.txt"}, wantCode: 2, wantStderr: badStderr},
		{
			name:       "render missing file",
			args:       []string{"endpoints", "render", "$DIR/missing.txt"},
			wantCode:   2,
			wantStderr: "edgectl: read endpoints file: open $DIR/missing.txt: no such file or directory\n",
		},
		{
			name:       "render bad options",
			args:       []string{"endpoints", "render", "$DIR/small.txt", "--protocol", "ftp", "--api-path", "v1", "--default-port", "70000"},
			wantCode:   2,
			wantStderr: "edgectl: protocol must be http or https, not \"ftp\"\napi path \"v1\" must start with \"/\"\ndefault port must be 0 (none) to 65535, not 70000\n",
		},
		{
			name:       "render bad port in the environment",
			args:       []string{"endpoints", "render", "$DIR/small.txt"},
			env:        map[string]string{"EDGECTL_ENDPOINTS_DEFAULT_PORT": "https"},
			wantCode:   2,
			wantStderr: "edgectl: EDGECTL_ENDPOINTS_DEFAULT_PORT: invalid argument \"https\" for \"--default-port\" flag: strconv.ParseInt: parsing \"https\": invalid syntax\n",
		},
		{name: "render without a file", args: []string{"endpoints", "render"}, wantCode: 2,
			wantStderr: "edgectl: edgectl endpoints render needs FILE\nUsage: edgectl endpoints render FILE [flags]\nRun 'edgectl endpoints render --help' for the flags and examples.\n"},
		{name: "render with two files", args: []string{"endpoints", "render", "a", "b"}, wantCode: 2,
			wantStderr: "edgectl: edgectl endpoints render takes 1 argument(s), got 2: a b\nUsage: edgectl endpoints render FILE [flags]\nRun 'edgectl endpoints render --help' for the flags and examples.\n"},
		{name: "render without a file, --json", args: []string{"endpoints", "render", "--json"}, wantCode: 2,
			wantStdout: "{\n  \"error\": {\n    \"message\": \"edgectl endpoints render needs FILE\",\n    \"exit_code\": 2,\n    \"problems\": []\n  }\n}\n"},
		{name: "unknown subcommand", args: []string{"endpoints", "draw", "x"}, wantCode: 2, wantStderr: "edgectl: unknown command \"draw\" for \"edgectl endpoints\"\n"},
		{name: "check ok", args: []string{"endpoints", "check", "$DIR/small.txt"}, wantStdout: "$DIR/small.txt: 1 domain, 1 IP, ok\n"},
		{
			name:       "check with duplicates",
			args:       []string{"endpoints", "check", "$DIR/dups.txt"},
			wantStdout: "$DIR/dups.txt: 1 domain, 1 IP, ok\n",
			wantStderr: "$DIR/dups.txt:2: duplicate \"A.EXAMPLE\" dropped\n$DIR/dups.txt:5: duplicate \"192.0.2.1\" dropped\n",
		},
		{name: "check empty: clients would get nothing", args: []string{"endpoints", "check", "$DIR/empty.txt"}, wantCode: 2,
			wantStderr: "$DIR/empty.txt:1: no domains or IPs: clients would get an empty list and nowhere to fail over to; add at least one under DomainList: or IPList:\nedgectl: $DIR/empty.txt is invalid (1 problem)\n"},
		{
			name:       "check --json",
			args:       []string{"endpoints", "check", "--json", "$DIR/dups.txt"},
			wantStdout: "{\n  \"file\": \"$DIR/dups.txt\",\n  \"domains\": 1,\n  \"ips\": 1,\n  \"warnings\": [\n    {\n      \"line\": 2,\n      \"col\": 12,\n      \"message\": \"duplicate \\\"A.EXAMPLE\\\" dropped\"\n    },\n    {\n      \"line\": 5,\n      \"col\": 1,\n      \"message\": \"duplicate \\\"192.0.2.1\\\" dropped\"\n    }\n  ]\n}\n",
		},
		{
			name:       "check --output json without warnings",
			args:       []string{"--output", "json", "endpoints", "check", "$DIR/small.txt"},
			wantStdout: "{\n  \"file\": \"$DIR/small.txt\",\n  \"domains\": 1,\n  \"ips\": 1,\n  \"warnings\": []\n}\n",
		},
		{name: "check invalid file", args: []string{"endpoints", "check", "$DIR/bad.txt"}, wantCode: 2, wantStderr: badStderr},
		{name: "check invalid file, --json: every problem in the error", args: []string{"endpoints", "check", "--json", "$DIR/bad.txt"}, wantCode: 2, wantStdout: badJSON},
		{name: "unknown flag, --json", args: []string{"--json", "endpoints", "check", "--bogus", "$DIR/small.txt"}, wantCode: 2,
			wantStdout: "{\n  \"error\": {\n    \"message\": \"unknown flag: --bogus\",\n    \"exit_code\": 2,\n    \"problems\": []\n  }\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range endpointsEnv {
				t.Setenv(e.env, "")
				os.Unsetenv(e.env) // unset, not empty; t.Setenv restores it afterwards
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}
			ios, _, stdout, stderr := TestIO()
			code := Run(context.Background(), &Factory{Version: "test", IO: ios}, args)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if want := strings.ReplaceAll(tt.wantStdout, "$DIR", dir); stdout.String() != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
			}
			if want := strings.ReplaceAll(tt.wantStderr, "$DIR", dir); stderr.String() != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
			}
		})
	}
}

// TestEndpointsRenderRun calls the behaviour directly, without cobra.
func TestEndpointsRenderRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endpoints.txt")
	if err := os.WriteFile(path, []byte(endpointsFiles["small.txt"]), 0o644); err != nil {
		t.Fatal(err)
	}
	ios, _, stdout, stderr := TestIO()
	err := endpointsRenderRun(context.Background(), &endpointsRenderOptions{File: path, IO: ios})
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != smallJSON || stderr.Len() != 0 {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
