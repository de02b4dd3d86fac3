package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgectl/edgectl/endpoints"
	"github.com/edgectl/edgectl/yamlfile"
)

// Exit codes shared by every command (docs/cli.md).
const (
	ExitOK      = 0 // success
	ExitProblem = 1 // a problem was found or an operation failed
	ExitUsage   = 2 // usage or configuration error
	ExitPartial = 3 // some hosts failed, others succeeded
)

// ExitError carries an exit code through cobra's error path. A nil Err (or
// one with an empty message) is a silent exit: the command has already
// said everything, on stdout, and Run prints nothing more. A nil
// *ExitError is safe to use.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e == nil {
		return ""
	}
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// silent reports whether the error has nothing to say beyond its code.
func (e *ExitError) silent() bool { return e == nil || e.Err == nil || e.Err.Error() == "" }

// silentExit ends a command with code after it printed its result.
func silentExit(code int) error { return &ExitError{Code: code} }

// usageError marks err as a usage or configuration problem (exit 2).
func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// problemError marks err as a failed operation (exit 1).
func problemError(err error) error { return &ExitError{Code: ExitProblem, Err: err} }

// invalidFile is a configuration file with problems at positions; the
// problems stay reachable (errors.As) for the --json error shape.
type invalidFile struct {
	what string // "fleet file", "agent config", "endpoints file"
	err  error  // *yamlfile.Error or *endpoints.ParseError
	// summaryOnly: the problems were already printed one per line (to
	// stderr), so Error says only how many.
	summaryOnly bool
	file        string
}

func (e *invalidFile) Error() string {
	if e.summaryOnly {
		n := len(problemsOf(e.err))
		return fmt.Sprintf("%s is invalid (%s)", e.file, plural(n, "problem", "problems"))
	}
	return "invalid " + e.what + ":\n" + e.err.Error()
}

func (e *invalidFile) Unwrap() error { return e.err }

// configError turns an error from loading a configuration file into a
// usage error (exit 2) that keeps the problems' positions.
func configError(what string, err error) error {
	var ye *yamlfile.Error
	if errors.As(err, &ye) {
		return usageError(&invalidFile{what: what, err: err})
	}
	return usageError(err)
}

// jsonProblem is one problem of the --json error shape.
type jsonProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

// jsonError is what every command prints on stdout under --json when it
// fails without having printed its own result.
type jsonError struct {
	Error jsonErrorBody `json:"error"`
}

type jsonErrorBody struct {
	Message  string        `json:"message"`
	ExitCode int           `json:"exit_code"`
	Problems []jsonProblem `json:"problems"`
}

// errorJSON builds the --json error for err exiting with code.
func errorJSON(err error, code int) jsonError {
	msg := err.Error()
	var ee *ExitError
	if errors.As(err, &ee) && ee.silent() {
		msg = fmt.Sprintf("exit status %d", code)
	}
	probs := problemsOf(err)
	if len(probs) > 0 {
		// The problems carry the detail; the message is the first line.
		msg, _, _ = strings.Cut(msg, "\n")
		msg = strings.TrimSuffix(msg, ":")
	}
	return jsonError{Error: jsonErrorBody{Message: msg, ExitCode: code, Problems: probs}}
}

// problemsOf lists the positioned problems inside err, never nil.
func problemsOf(err error) []jsonProblem {
	out := []jsonProblem{}
	var ye *yamlfile.Error
	var pe *endpoints.ParseError
	switch {
	case errors.As(err, &ye):
		for _, p := range ye.Problems {
			out = append(out, jsonProblem{File: p.File, Line: p.Line, Col: p.Col, Message: p.Msg})
		}
	case errors.As(err, &pe):
		for _, p := range pe.Problems {
			out = append(out, jsonProblem{File: pe.File, Line: p.Line, Col: p.Col, Message: p.Msg})
		}
	}
	return out
}

// exitCode is the code Run exits with for err: cobra's own errors (unknown
// flag, unknown command) are usage errors.
func exitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	}
	return ExitUsage
}

// argsError is a wrong number of arguments or a bad flag: Run prints the
// command's usage line after it.
type argsError struct {
	cmd *cobra.Command
	err error
}

func (e *argsError) Error() string { return e.err.Error() }
func (e *argsError) Unwrap() error { return e.err }

// usageHint is what follows an argsError: the usage line and where to
// read more.
func (e *argsError) usageHint() string {
	return fmt.Sprintf("Usage: %s\nRun '%s --help' for the flags and examples.", e.cmd.UseLine(), e.cmd.CommandPath())
}

// exactArgs is cobra.ExactArgs with messages that name what is missing,
// from the command's Use line ("deploy fleet.yaml" → "fleet.yaml").
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		names := strings.Fields(cmd.Use)[1:]
		for i, a := range names {
			if strings.HasPrefix(a, "[") || strings.HasPrefix(a, "-") {
				names = names[:i]
				break
			}
		}
		switch {
		case len(args) < n && len(names) >= n:
			return usageError(&argsError{cmd, fmt.Errorf("%s needs %s", cmd.CommandPath(), strings.Join(names[len(args):n], " "))})
		case len(args) < n:
			return usageError(&argsError{cmd, fmt.Errorf("%s needs %d argument(s), got %d", cmd.CommandPath(), n, len(args))})
		case len(args) > n:
			return usageError(&argsError{cmd, fmt.Errorf("%s takes %d argument(s), got %d: %s", cmd.CommandPath(), n, len(args), strings.Join(args, " "))})
		}
		return nil
	}
}

// noArgs is cobra.NoArgs with a usage hint.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(&argsError{cmd, fmt.Errorf("%s takes no arguments, got %s", cmd.CommandPath(), strings.Join(args, " "))})
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// asArgsError finds an argsError in err's chain.
func asArgsError(err error) *argsError {
	var ae *argsError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}
