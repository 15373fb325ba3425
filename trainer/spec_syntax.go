package trainer

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxSyntaxScanLines bounds the documents whose syntax errors are located
// by re-parsing prefixes (quadratic in the line count); longer ones keep
// the parser's own line.
const maxSyntaxScanLines = 5000

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxError turns the YAML parser's error for data into a SpecError at
// the line where the document stops being valid YAML.
//
// The parser's own line is unreliable: for errors found while parsing (as
// opposed to scanning) it reports a 0-based line, or the line where the
// enclosing construct began, so a bad indent on line 21 came out as line 3
// and an unclosed '{' on line 2 as line 1. The line reported here is the
// first line k such that the document's first k lines fail with the same
// message as the whole document: where the problem the parser complains
// about first appears.
func syntaxError(file string, data []byte, err error) SpecError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	bare := yamlLineRE.ReplaceAllString(err.Error(), "")
	e := SpecError{File: file, Msg: "not valid YAML: " + msg}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxSyntaxScanLines {
		return e
	}
	var prefix []byte
	for k, line := range lines {
		prefix = append(prefix, line...)
		var n yaml.Node
		perr := yaml.Unmarshal(prefix, &n)
		if perr == nil || yamlLineRE.ReplaceAllString(perr.Error(), "") != bare {
			continue
		}
		col := len(line) - len(bytes.TrimLeft(line, " \t")) + 1
		msg := "not valid YAML: " + bare
		if prev := previousLine(lines, k); prev > 0 && strings.Contains(bare, "expected key") {
			// The line where a block mapping breaks is often not the
			// one indented wrongly: name the line before it too.
			msg += fmt.Sprintf(" (the indentation of this line or of line %d is inconsistent)", prev)
		}
		return SpecError{File: file, Pos: Pos{Line: k + 1, Col: col}, Msg: msg}
	}
	return e
}

// previousLine returns the 1-based number of the last non-blank,
// non-comment line before line index k, or 0.
func previousLine(lines [][]byte, k int) int {
	for i := k - 1; i >= 0; i-- {
		t := bytes.TrimSpace(lines[i])
		if len(t) > 0 && t[0] != '#' {
			return i + 1
		}
	}
	return 0
}
