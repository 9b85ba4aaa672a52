package stagetest

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/pipelines"
)

// writeUpdates writes back every *.test.yaml file with a case whose expected rows Run replaced. yaml.v3 keeps the
// comments; the layout becomes its own (two-space indent, one flow mapping per row).
func writeUpdates(results []Result) pipelines.ErrorList {
	var errs pipelines.ErrorList
	done := map[*yaml.Node]bool{}
	for _, res := range results {
		c := res.c
		if c == nil || c.doc == nil || done[c.doc] {
			continue
		}
		done[c.doc] = true
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		err := enc.Encode(c.doc)
		if err == nil {
			err = enc.Close()
		}
		if err == nil {
			err = writeFileAtomic(c.File, buf.Bytes())
		}
		if err != nil {
			errs = append(errs, &pipelines.Error{File: c.File, Msg: fmt.Sprintf("--update: cannot rewrite the expected rows: %v", err)})
		}
	}
	return errs
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
