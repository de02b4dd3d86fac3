package cli

import (
	"encoding/json"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"
)

// writeJSON prints v as indented JSON with a trailing newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeTable prints rows under headers as aligned columns (two spaces
// apart). The text is stable for scripts; colour, when on, only tints the
// status words (ok, warn, fail, …) and the header, after alignment.
func writeTable(w io.Writer, color bool, headers []string, rows [][]string) error {
	width := make([]int, len(headers))
	all := append([][]string{headers}, rows...)
	for _, r := range all {
		for i, c := range r {
			if i < len(width) && utf8.RuneCountInString(c) > width[i] {
				width[i] = utf8.RuneCountInString(c)
			}
		}
	}
	var b strings.Builder
	for n, r := range all {
		for i, c := range r {
			cell := c
			if n == 0 {
				cell = strings.ToUpper(c)
				if color {
					cell = lipgloss.NewStyle().Bold(true).Render(cell)
				}
			} else {
				cell = paint(color, c)
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var statusStyles = map[string]lipgloss.Style{
	"ok":       lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
	"healthy":  lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
	"warn":     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
	"degraded": lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
	"fail":     lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"down":     lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"problem":  lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"skip":     lipgloss.NewStyle().Faint(true),
	// deploy's host outcomes
	"deployed":    lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
	"unchanged":   lipgloss.NewStyle().Faint(true),
	"planned":     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
	"rolled-back": lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"failed":      lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"unreachable": lipgloss.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
	"skipped":     lipgloss.NewStyle().Faint(true),
}

// paint colours a cell that is exactly a status word.
func paint(color bool, cell string) string {
	if !color {
		return cell
	}
	if st, ok := statusStyles[cell]; ok {
		return st.Render(cell)
	}
	return cell
}
