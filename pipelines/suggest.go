package pipelines

import (
	"fmt"
	"strings"

	"github.com/jetflow-dev/jetflow/internal/suggest"
)

// closest returns the candidate nearest to s, if it is near enough to be a likely typo.
func closest(s string, candidates []string) (string, bool) { return suggest.Closest(s, candidates) }

// didYouMean is "; did you mean "x"?" or, when nothing is close, "; valid: a, b, c" (listAll) or "".
func didYouMean(s string, candidates []string, listAll string) string {
	if c, ok := closest(s, candidates); ok {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	if listAll != "" && len(candidates) > 0 {
		return fmt.Sprintf("; %s %s", listAll, strings.Join(candidates, ", "))
	}
	return ""
}
