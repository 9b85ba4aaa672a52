package pipelines

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// LookupFunc finds an environment variable; os.LookupEnv is the default.
type LookupFunc func(name string) (string, bool)

// expandString replaces ${VAR}, ${VAR:-default} and ${file:PATH} in s and turns $$ into $. A lone $ stays as
// written. It returns the values it took from the environment or a file (each a secret for the redactor; a
// default is written in the file, so it is none), whether anything came from there, and the first problem found.
func expandString(s string, lookup LookupFunc) (out string, subs []string, fromEnv bool, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, false, fmt.Errorf("unterminated ${ (write $$ for a literal $)")
			}
			expr := s[i+2 : i+2+end]
			if path, ok := strings.CutPrefix(expr, "file:"); ok {
				v, err := readSecretFile(path)
				if err != nil {
					return "", nil, false, err
				}
				b.WriteString(v)
				subs = append(subs, v)
				fromEnv = true
				i += 2 + end
				continue
			}
			name, def, hasDef := strings.Cut(strings.TrimPrefix(expr, "env:"), ":-") // ${env:VAR} is ${VAR}
			if !validVarName(name) {
				return "", nil, false, fmt.Errorf("invalid variable name %q in ${%s}: use letters, digits and _ (or ${file:PATH} for a secret file)", name, expr)
			}
			v, ok := lookup(name)
			switch {
			case ok && (v != "" || !hasDef):
				b.WriteString(v)
				subs = append(subs, v)
			case hasDef:
				b.WriteString(def)
			default:
				return "", nil, false, &unsetError{name: name}
			}
			fromEnv = true
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), subs, fromEnv, nil
}

// readSecretFile reads a ${file:PATH} value, as Docker and Kubernetes mount secrets: the file's text without its
// trailing newline. A relative path is taken from the working directory, as state.path is.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("${file:} names no file: write ${file:/run/secrets/NAME}")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &secretFileError{path: path, err: unwrapPathErr(err)}
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// secretFileError is a ${file:PATH} that cannot be read.
type secretFileError struct {
	path string
	err  error
}

func (e *secretFileError) Error() string {
	return fmt.Sprintf("secret file %s cannot be read: %v", e.path, e.err)
}

// unsetError is a ${VAR} whose variable is not set and has no default.
type unsetError struct{ name string }

func (e *unsetError) Error() string {
	return fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to fall back to a default)", e.name, e.name)
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// expander expands ${VAR} in the scalar values of a pipeline file.
type expander struct {
	lookup LookupFunc
	orig   map[*yaml.Node]string // scalars that changed → their text as written
	subs   []string              // every value taken from the environment or a secret file, for the redactor
	sink   *errorSink
	skip   map[string]bool // top-level keys left as written
	// strict tells the top-level keys whose variables must all be set; nil: every key. Elsewhere a scalar naming
	// a missing variable is left as written and recorded in sink.quiet, which mutes the errors about it.
	strict func(key string) bool
}

// expandTree expands every scalar value under n (keys never), recording the original text of the scalars that
// changed so that no error prints a value taken from the environment.
func (e *expander) expandTree(n *yaml.Node, path string, lenient bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			e.expandTree(c, path, lenient)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			l := lenient
			if path == "" {
				if e.skip[k.Value] {
					continue
				}
				l = e.strict != nil && !e.strict(k.Value)
			}
			e.expandTree(n.Content[i+1], joinPath(path, k.Value), l)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			e.expandTree(c, fmt.Sprintf("%s[%d]", path, i), lenient)
		}
	case yaml.ScalarNode:
		out, subs, fromEnv, err := expandString(n.Value, e.lookup)
		var (
			unset   *unsetError
			fileErr *secretFileError
		)
		if lenient && (errors.As(err, &unset) || errors.As(err, &fileErr)) {
			e.sink.quiet[n] = true
			return
		}
		if err != nil {
			e.sink.at(n, "%s: %v", pathOrRoot(path), err)
			return
		}
		e.subs = append(e.subs, subs...)
		if out == n.Value && !fromEnv {
			return
		}
		if fromEnv {
			e.orig[n] = n.Value
		}
		n.Value = out
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			// A plain scalar takes the type its new text has, as if it had been written in the file.
			n.Tag = resolvePlain(out)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOrRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// resolvePlain gives the YAML 1.2 core-schema tag of a plain scalar's text.
func resolvePlain(s string) string {
	var n yaml.Node
	// Resolving through the parser keeps the rules identical to those of scalars written in the file; a text
	// that is not one plain scalar is a string.
	if err := yaml.Unmarshal([]byte(s), &n); err != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.ScalarNode ||
		n.Content[0].Style != 0 || n.Content[0].Value != s {
		if s == "" {
			return "!!null"
		}
		return "!!str"
	}
	return n.Content[0].Tag
}
