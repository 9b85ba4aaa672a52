package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/jetflow-dev/jetflow/pipelines"
)

// writeGitHubAnnotations prints errors as GitHub Actions workflow commands, which annotate the file, line and
// column of a pull request's diff. Values are escaped as the runner expects: %, CR and LF everywhere, and : and ,
// in properties.
func writeGitHubAnnotations(w io.Writer, errs pipelines.ErrorList) {
	data := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	prop := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
	for _, e := range errs {
		props := "file=" + prop.Replace(filepath.ToSlash(e.File))
		if e.Line > 0 {
			props += fmt.Sprintf(",line=%d", e.Line)
		}
		if e.Col > 0 {
			props += fmt.Sprintf(",col=%d", e.Col)
		}
		fmt.Fprintf(w, "::error %s,title=jetflow validate::%s\n", props, data.Replace(e.Msg))
	}
}
