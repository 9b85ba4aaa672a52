package pipelines

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestValuePos maps a byte offset of a scalar's value to the file's line:col, for each scalar style; where
// the style moves characters (escapes, folding, a variable expanded), it gives the value's start, inexact.
func TestValuePos(t *testing.T) {
	cases := []struct {
		name, src string
		find      string // the value's substring whose first byte is the offset
		expand    map[string]string
		line, col int
		exact     bool
	}{
		{"plain", "k: a + bad\n", "bad", nil, 1, 8, true},
		{"plain after non-ASCII", "k: x = 'é' and bad\n", "bad", nil, 1, 16, true},
		{"plain at the end", "k: a +\n", "", nil, 1, 7, true},
		{"single quoted", "k: 'it''s + bad'\n", "bad", nil, 1, 13, true},
		{"double quoted", `k: "a + bad"` + "\n", "bad", nil, 1, 9, true},
		{"double quoted escape", `k: "\x41 + bad"` + "\n", "bad", nil, 1, 4, false},
		{"literal", "k: |\n  a\n\n  + bad\n", "bad", nil, 4, 5, true},
		{"literal, deeper lines", "k: |-\n    a\n      + bad\n", "bad", nil, 3, 9, true},
		{"literal with indentation indicator", "k: |2\n    a bad\n", "bad", nil, 1, 4, false},
		{"folded, one line", "k: >-\n  a + bad\n", "bad", nil, 2, 7, true},
		{"folded, two lines", "k: >\n  a\n  + bad\n", "bad", nil, 1, 4, false},
		{"plain, two lines", "k: a\n  + bad\n", "bad", nil, 1, 4, false},
		{"expanded variable", "k: ${X} + bad\n", "bad", map[string]string{"X": "long value"}, 1, 4, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.src), &doc); err != nil {
				t.Fatal(err)
			}
			ex := &expander{lookup: func(k string) (string, bool) { v, ok := tc.expand[k]; return v, ok },
				orig: map[*yaml.Node]string{}, sink: &errorSink{}}
			ex.expandTree(&doc, "", false)
			n := doc.Content[0].Content[1]
			off := len(n.Value)
			if tc.find != "" {
				off = strings.Index(n.Value, tc.find)
			}
			line, col, exact := valuePos(strings.Split(tc.src, "\n"), n, off)
			if line != tc.line || col != tc.col || exact != tc.exact {
				t.Fatalf("valuePos(%q, %d) = %d:%d exact %v, want %d:%d exact %v", n.Value, off, line, col, exact, tc.line, tc.col, tc.exact)
			}
		})
	}
}
