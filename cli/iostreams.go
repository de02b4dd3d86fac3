package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// IOStreams are the standard streams of a command and what is known about
// them: whether each is a terminal and how wide the terminal is. Commands
// take them from the Factory and never touch os.Stdin, os.Stdout or
// os.Stderr, so prompts, colour and live progress are testable with exact
// output (see TestIOStreams).
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	width                 int // 0: ask the terminal, else 80
	inFile, errFile       *os.File

	mu      sync.Mutex
	inLines *bufio.Reader // In as lines, for prompts off a real terminal
}

// SystemIO returns the process's streams, with terminals detected.
func SystemIO() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		inTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		outTTY: term.IsTerminal(int(os.Stdout.Fd())),
		errTTY: term.IsTerminal(int(os.Stderr.Fd())),
		inFile: os.Stdin, errFile: os.Stderr,
	}
}

// TestIO returns streams backed by buffers, none of them a terminal until
// a Set*TTY call says so, and an 80-column width.
func TestIO() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, width: 80}, in, out, errOut
}

// SetStdinTTY overrides whether stdin is a terminal.
func (s *IOStreams) SetStdinTTY(v bool) { s.inTTY = v }

// SetStdoutTTY overrides whether stdout is a terminal.
func (s *IOStreams) SetStdoutTTY(v bool) { s.outTTY = v }

// SetStderrTTY overrides whether stderr is a terminal.
func (s *IOStreams) SetStderrTTY(v bool) { s.errTTY = v }

// SetWidth overrides the terminal width in columns.
func (s *IOStreams) SetWidth(cols int) { s.width = cols }

// IsStdinTTY reports whether stdin is a terminal: prompts need one.
func (s *IOStreams) IsStdinTTY() bool { return s.inTTY }

// IsStdoutTTY reports whether stdout is a terminal: tables get colour and
// deploy asks before changing anything.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether stderr is a terminal: live progress and
// human-readable logs go there.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// TerminalWidth is the width of the terminal on stderr (where progress is
// drawn), 80 when unknown.
func (s *IOStreams) TerminalWidth() int {
	if s.width > 0 {
		return s.width
	}
	for _, f := range []*os.File{s.errFile, os.Stdout} {
		if f == nil {
			continue
		}
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 20 {
			return c
		}
	}
	return 80
}

// ReadLine reads one answer from stdin, without the line ending.
func (s *IOStreams) ReadLine() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inLines == nil {
		s.inLines = bufio.NewReader(s.In)
	}
	line, err := s.inLines.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// ReadPassword reads a line from stdin without echoing it when stdin is a
// real terminal (a test's stdin is read as a plain line).
func (s *IOStreams) ReadPassword() ([]byte, error) {
	if s.inFile != nil && term.IsTerminal(int(s.inFile.Fd())) {
		return term.ReadPassword(int(s.inFile.Fd()))
	}
	line, err := s.ReadLine()
	return []byte(line), err
}

// askYes asks question on stdout, with " [y/N] ", and reads the answer from
// stdin: true only for y or yes (any case); no answer is no.
func askYes(ios *IOStreams, question string) bool {
	fmt.Fprintf(ios.Out, "%s [y/N] ", question)
	line, err := ios.ReadLine()
	if err != nil {
		fmt.Fprintln(ios.Out)
		return false
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// countingWriter counts what goes through it, so Run knows whether a
// command already printed its JSON before failing.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
