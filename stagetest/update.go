package stagetest

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/pipelines"
)

// writeUpdates writes back every *.test.yaml file with a case whose expected rows Run replaced. Only the lines of
// each rows: value change, one flow mapping per row, so comments and layout elsewhere stay as the user wrote them.
// Where the rows cannot be cut out by lines (rows: inside a flow mapping, a list closed on a later line), the whole
// file is written again by yaml.v3, which keeps comments but not the layout.
func writeUpdates(results []Result) pipelines.ErrorList {
	byFile := map[string][]*Case{}
	var files []string
	for _, res := range results {
		if c := res.c; c != nil && c.doc != nil {
			if byFile[c.File] == nil {
				files = append(files, c.File)
			}
			byFile[c.File] = append(byFile[c.File], c)
		}
	}
	var errs pipelines.ErrorList
	for _, file := range files {
		if err := updateFile(file, byFile[file]); err != nil {
			errs = append(errs, &pipelines.Error{File: file, Msg: fmt.Sprintf("--update: cannot rewrite the expected rows: %v", err)})
		}
	}
	return errs
}

func updateFile(file string, cases []*Case) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, ok := splice(data, cases)
	if !ok {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(cases[0].doc); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		out = buf.Bytes()
	}
	return writeFileAtomic(file, out)
}

// splice replaces the lines of each case's rows: value with the new rows; ok is false when that cannot be done
// by lines alone.
func splice(data []byte, cases []*Case) ([]byte, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	// Bottom up, so the line numbers of the cases above stay right.
	slices.SortFunc(cases, func(a, b *Case) int { return b.Expect.RowsKey.Line - a.Expect.RowsKey.Line })
	for _, c := range cases {
		key := c.Expect.RowsKey
		first, last := key.Line-1, c.Expect.rowsEnd-1
		if last >= len(lines) || key.Column-1 > len(lines[first]) {
			return nil, false
		}
		prefix := lines[first][:key.Column-1]
		if strings.Trim(prefix, " -") != "" {
			return nil, false // rows: shares its line with other keys
		}
		indent := strings.Repeat(" ", key.Column-1)
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString("rows:")
		if len(c.Expect.Rows.Content) == 0 {
			b.WriteString(" []\n")
		} else {
			b.WriteByte('\n')
			for _, row := range c.Expect.Rows.Content {
				text, err := yaml.Marshal(row)
				if err != nil {
					return nil, false
				}
				b.WriteString(indent + "  - " + strings.TrimRight(string(text), "\n") + "\n")
			}
		}
		lines = slices.Replace(lines, first, last+1, b.String())
	}
	out := []byte(strings.Join(lines, ""))
	var check yaml.Node
	if err := yaml.Unmarshal(out, &check); err != nil {
		return nil, false
	}
	return out, true
}

// writeFileAtomic replaces path through a temporary file and a rename, so an interrupted update leaves the old
// file whole.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
