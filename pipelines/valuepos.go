package pipelines

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// valuePos finds the file line and column of the character at byte offset off of scalar n's decoded value,
// reading the source lines of the file. exact is false when the style of the scalar does not keep the value's
// characters in place (folded lines, escapes, a value from the environment): line and col are then n's start.
func valuePos(lines []string, n *yaml.Node, off int) (line, col int, exact bool) {
	line, col = n.Line, n.Column
	if n.Kind != yaml.ScalarNode || off < 0 || off > len(n.Value) || n.Line < 1 || n.Line > len(lines) {
		return line, col, false
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return blockPos(lines, n, off)
	case n.Style&yaml.SingleQuotedStyle != 0:
		return quotedPos(lines[n.Line-1], n, off)
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return quotedPos(lines[n.Line-1], n, off)
	}
	// Plain: the value is the source text as written when it fits on its line.
	src := []rune(lines[n.Line-1])
	start := n.Column - 1
	if strings.Contains(n.Value, "\n") || start < 0 || start > len(src) || !strings.HasPrefix(string(src[start:]), n.Value) {
		return line, col, false
	}
	return line, col + utf8.RuneCountInString(n.Value[:off]), true
}

// quotedPos maps an offset of a quoted scalar written on one line. A doubled quote in single quotes is
// followed; an escape in double quotes gives up, as it is longer than the character it stands for.
func quotedPos(text string, n *yaml.Node, off int) (int, int, bool) {
	src := []rune(text)
	j := n.Column // the rune after the opening quote, 0-based
	for _, r := range n.Value[:off] {
		switch {
		case j >= len(src):
			return n.Line, n.Column, false
		case n.Style&yaml.SingleQuotedStyle != 0 && r == '\'' && j+1 < len(src) && src[j] == '\'' && src[j+1] == '\'':
			j += 2
		case src[j] == r && !(r == '\\' && n.Style&yaml.DoubleQuotedStyle != 0):
			j++
		default:
			return n.Line, n.Column, false
		}
	}
	return n.Line, j + 1, true
}

// blockPos maps an offset of a literal (|) block scalar, whose lines are the value's lines below the indicator,
// and of a folded (>) one written on a single line, where folding changes nothing.
func blockPos(lines []string, n *yaml.Node, off int) (int, int, bool) {
	header := string([]rune(lines[n.Line-1])[min(n.Column-1, len([]rune(lines[n.Line-1]))):])
	if strings.ContainsAny(strings.Fields(header + " ")[0], "123456789") {
		return n.Line, n.Column, false // an explicit indentation indicator: rare, not followed
	}
	indent := -1
	for _, l := range lines[n.Line:] {
		if strings.TrimSpace(l) != "" {
			indent = len(l) - len(strings.TrimLeft(l, " "))
			break
		}
	}
	if indent < 0 {
		return n.Line, n.Column, false
	}
	value := n.Value
	if n.Style&yaml.FoldedStyle != 0 {
		body := strings.TrimRight(value, "\n")
		if strings.Contains(body, "\n") || n.Line >= len(lines) || !strings.HasPrefix(lines[n.Line], strings.Repeat(" ", indent)) ||
			strings.TrimRight(lines[n.Line][indent:], " ") != body {
			return n.Line, n.Column, false
		}
	}
	k := strings.Count(value[:off], "\n")
	lineStart := strings.LastIndexByte(value[:off], '\n') + 1
	valueLine, _, _ := strings.Cut(value[lineStart:], "\n")
	fileLine := n.Line + 1 + k
	if fileLine > len(lines) {
		return n.Line, n.Column, false
	}
	text := lines[fileLine-1]
	if valueLine != "" && (len(text) < indent || !strings.HasPrefix(text[indent:], valueLine)) {
		return n.Line, n.Column, false
	}
	return fileLine, indent + 1 + utf8.RuneCountInString(value[lineStart:off]), true
}
