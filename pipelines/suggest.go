package pipelines

import (
	"fmt"
	"strings"
)

// closest returns the candidate nearest to s by edit distance, if it is near enough to be a likely typo.
func closest(s string, candidates []string) (string, bool) {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	// A third of the word, at least 1 and at most 3 edits: close enough for a typo, far enough to avoid nonsense.
	limit := min(max(len(s)/3, 1), 3)
	if bestD < 0 || bestD > limit {
		return "", false
	}
	return best, true
}

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

// editDistance is the Levenshtein distance between a and b, over bytes (keys and type names are ASCII).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			// A swap of two neighbours ("fsat" for "fast") is one typo, not two.
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
