package pipelines

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/stage"
)

// ProjectFile is the name of a folder's project file: the defaults every pipeline file of that folder inherits.
// It is never read as a pipeline.
const ProjectFile = "jetflow.yaml"

// ProjectSpec is the top level of a project file. Its tags drive the decoder and the reference.
type ProjectSpec struct {
	Defaults *yaml.Node `yaml:"defaults" doc:"Keys every pipeline of the folder inherits, written as in a pipeline file (state:, retries:, run_instance:, a loader's settings, ...). Mappings merge key by key and the pipeline's own value wins; a list or a single value is replaced whole. Not allowed: name, depends_on, tests."`
}

// notInherited are the pipeline keys a project's defaults may not hold: each belongs to one pipeline.
var notInherited = map[string]string{
	"name":       "each pipeline names itself, and names are unique",
	"depends_on": "each pipeline lists its own inputs",
	"tests":      "stage tests belong to the pipeline they test",
}

// project is a parsed project file. Its nodes are never changed: each pipeline merges a copy of them.
type project struct {
	file     string
	lines    []string
	defaults *yaml.Node // a mapping, or nil
}

// projectFor finds the project file of a pipeline file: jetflow.yaml in the same folder. It returns nil when there
// is none. This is the one place that decides which project file a pipeline inherits from.
func projectFor(pipelineFile string) (*project, error) { return loadProject(projectPath(pipelineFile)) }

// projectPath is where the project file of a pipeline file is: jetflow.yaml in the pipeline file's folder.
func projectPath(pipelineFile string) string {
	return filepath.Join(filepath.Dir(pipelineFile), ProjectFile)
}

// loadProject reads and checks a project file; nil, nil when it does not exist.
func loadProject(file string) (*project, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("cannot read the project file: %v", unwrapPathErr(err))}}
	}
	sink := &errorSink{file: file, quiet: map[*yaml.Node]bool{}}
	pr := &project{file: file, lines: strings.Split(string(data), "\n")}
	root := parseYAML(sink, data, true)
	if root == nil {
		if err := sink.list.Err(); err != nil {
			return nil, err
		}
		return pr, nil // an empty project file holds no defaults
	}
	var spec ProjectSpec
	d := newDecoder(sink, nil, root)
	d.decodeStruct(reflect.ValueOf(&spec).Elem(), root, "", nil)
	d.complete(&spec, "")
	if n := deref(spec.Defaults); n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			sink.at(n, "defaults: want a mapping of pipeline keys (state:, retries:, ...), got %s", d.got(n))
		} else {
			checkDefaultKeys(sink, n)
			pr.defaults = n
		}
	}
	if err := sink.list.Err(); err != nil {
		return nil, err
	}
	return pr, nil
}

// checkDefaultKeys checks the top-level keys of defaults against those of a pipeline; what lies under them is
// checked as part of each pipeline, at the project file's positions.
func checkDefaultKeys(sink *errorSink, defaults *yaml.Node) {
	var valid []string
	for _, f := range stage.Fields(reflect.TypeFor[Spec]()) {
		if notInherited[f.Key] == "" {
			valid = append(valid, f.Key)
		}
	}
	for i := 0; i+1 < len(defaults.Content); i += 2 {
		k := defaults.Content[i]
		switch why := notInherited[k.Value]; {
		case why != "":
			sink.at(k, "defaults.%s: a project cannot give a default %s: %s; write it in the pipeline file", k.Value, k.Value, why)
		case k.Kind == yaml.ScalarNode && !slices.Contains(valid, k.Value):
			sink.at(k, "defaults.%s: unknown pipeline key%s", k.Value, didYouMean(k.Value, valid, "valid keys are:"))
		}
	}
}

// inherit merges the project's defaults into a pipeline's root mapping, before anything is expanded or decoded:
// a key the pipeline lacks is added (a copy of the project's, whose nodes are recorded in origin as coming from
// the project file), a mapping both give is merged key by key, and otherwise the pipeline's value wins, even a
// null one. Lists and single values are never merged.
func (pr *project) inherit(root *yaml.Node, origin map[*yaml.Node]string) {
	if pr == nil || pr.defaults == nil {
		return
	}
	mergeMapping(root, pr.defaults, func(n *yaml.Node) *yaml.Node { return copyNode(n, pr.file, origin) })
}

func mergeMapping(dst, src *yaml.Node, copyOf func(*yaml.Node) *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		j := mappingIndex(dst, k.Value)
		if j < 0 {
			dst.Content = append(dst.Content, copyOf(k), copyOf(v))
			continue
		}
		// An alias in the pipeline is kept as it is: merging into it would change every place that uses the anchor.
		if mine, theirs := dst.Content[j+1], deref(v); mine.Kind == yaml.MappingNode && theirs.Kind == yaml.MappingNode {
			mergeMapping(mine, theirs, copyOf)
		}
	}
}

// mappingIndex is the index of key's key node in mapping m (its first occurrence), or -1.
func mappingIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// copyNode copies a node deeply, resolving aliases, and records every copy as coming from file.
func copyNode(n *yaml.Node, file string, origin map[*yaml.Node]string) *yaml.Node {
	n = deref(n)
	c := *n
	c.Anchor = ""
	if len(n.Content) > 0 {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, child := range n.Content {
			c.Content[i] = copyNode(child, file, origin)
		}
	}
	origin[&c] = file
	return &c
}
