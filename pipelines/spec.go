// Package pipelines reads pipeline files: it decodes the YAML with every error positioned at file:line:col,
// expands ${VAR} from the environment, builds the stages through the stage registry, checks the schema through
// the whole pipeline, and defines run instances and partition identity.
package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones resolve on machines without /usr/share/zoneinfo (slim containers)

	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/internal/notify"
	"github.com/jetflow-dev/jetflow/stage"
)

// Spec is the top level of a pipeline file. Its tags drive the decoder and the reference, as a stage config's do.
type Spec struct {
	Name         string          `yaml:"name" required:"true" doc:"Pipeline name: lowercase letters, digits, _ and -, starting with a letter. Part of every partition id, so renaming a pipeline starts its output afresh."`
	Description  string          `yaml:"description" doc:"Free text for people; not used by jetflow."`
	DependsOn    []string        `yaml:"depends_on" doc:"Names of the pipelines this one reads the output of. jetflow run DIR runs it after them, and only once their run instances that overlap this one's are complete; a failed upstream skips it."`
	Tags         []string        `yaml:"tags" doc:"Labels for selecting pipelines: jetflow run DIR --select tag:TAG."`
	RunInstance  RunInstanceSpec `yaml:"run_instance" doc:"The business unit one run covers."`
	Retries      RetrySpec       `yaml:"retries" doc:"How a failed partition is retried."`
	State        StateSpec       `yaml:"state" doc:"Where partition status, leases and watermarks are kept."`
	Consumer     *Stage          `yaml:"consumer" required:"true" stage:"consumer" doc:"The source: a mapping with type: and that type's keys."`
	Transformers []*Stage        `yaml:"transformers" stage:"transformer" doc:"Transformers applied in order to every batch."`
	Loaders      []*Stage        `yaml:"loaders" required:"true" stage:"loader" doc:"Destinations; every partition is committed to each of them."`
	Tests        *yaml.Node      `yaml:"tests" doc:"Stage tests run by 'jetflow test' (kept as written; see the test reference)."`
	Notify       []notify.Target `yaml:"notify" doc:"Where to send alerts: a list of webhook and Slack targets, each for the events in its on: (docs/PRODUCTION.md, Alerts). A notification that cannot be sent is logged and never changes a run's exit code."`
	Freshness    FreshnessSpec   `yaml:"freshness" doc:"How old the pipeline's last success may get before jetflow check-freshness reports it late and sends its freshness notification."`
}

// FreshnessSpec is a pipeline's freshness deadline.
type FreshnessSpec struct {
	WarnAfter stage.Duration `yaml:"warn_after" min:"1m" doc:"Longest time since the last successful run before the pipeline is late (26h for a daily pipeline: a day and some slack). Unset: never late."`
}

// RunInstanceSpec says how time is cut into run instances.
type RunInstanceSpec struct {
	Every    stage.Duration `yaml:"every" default:"1d" doc:"Length of a run instance: whole days, or a whole number of minutes that divides 24h (1h, 2h, 15m, ...)."`
	Timezone string         `yaml:"timezone" default:"UTC" doc:"IANA time zone in which run instances are aligned and labelled (UTC, Europe/Paris)."`
}

// RetrySpec is the retry policy of one partition.
type RetrySpec struct {
	Attempts   int            `yaml:"attempts" default:"3" doc:"Total tries of one partition, the first included."`
	Backoff    stage.Duration `yaml:"backoff" default:"1s" doc:"Wait before the first retry; doubled at each further retry."`
	MaxBackoff stage.Duration `yaml:"max_backoff" default:"1m" doc:"Longest wait between two tries."`
}

// StateSpec chooses the state store.
type StateSpec struct {
	Type string       `yaml:"type" default:"sqlite" enum:"sqlite,postgres" doc:"sqlite: one file, one machine; postgres: shared by several machines."`
	Path string       `yaml:"path" default:".jetflow/state.db" doc:"SQLite file, relative to the working directory."`
	DSN  stage.Secret `yaml:"dsn" doc:"PostgreSQL connection string (postgres://...); write ${VAR}."`
	// Schema is where the postgres store keeps its tables.
	Schema string `yaml:"schema" default:"jetflow" doc:"PostgreSQL schema of the state tables (created if missing)."`
}

// Stage is one stage of a pipeline: its registered type and its decoded config.
type Stage struct {
	Kind         stage.Kind
	Type         string // the YAML type:
	Name         string // label for logs and metrics; unique in the pipeline
	Path         string // where it sits in the file: "consumer", "transformers[1]", "loaders[0]"
	Config       any    // pointer to the type's config struct, defaults applied
	Registration *stage.Registration

	Node, TypeNode, NameNode *yaml.Node

	present func(path string) bool // which keys of Config the file gives
}

// Build runs the stage's constructor on cfg: its Config, or a copy of it with keys changed. The keys the file
// left out take their defaults, those it wrote keep their value, even a zero one.
func (st *Stage) Build(bc stage.BuildContext, cfg any) (any, error) {
	return st.Registration.BuildPresent(bc, cfg, st.present)
}

// Pipeline is a decoded, checked pipeline file.
type Pipeline struct {
	Spec
	File string // path as given to Load
	// Project is the project file the pipeline inherits defaults from (ProjectFile beside it), or "" when none.
	Project  string
	Location *time.Location // run_instance.timezone
	// Redactor holds the pipeline's secrets: the values of ${VAR} and ${file:PATH}, and of every stage.Secret
	// field. Build hands it to the stages, Job to the engine; every output passes through it.
	Redactor *stage.Redactor
	// Warnings are findings that do not stop the pipeline: a secret written inline in the file.
	Warnings ErrorList

	root   *yaml.Node
	lines  []string              // the file's text, to place an error inside a value (stage.ValueError)
	origin map[*yaml.Node]string // nodes inherited from the project file → its path
	plines []string              // the project file's text
	keys   map[string]*yaml.Node
	vals   map[string]*yaml.Node
	hidden []hiddenValue
	failed map[string]bool // paths whose value did not decode
}

// newSink collects errors about this pipeline, each at the file its node was written in.
func (p *Pipeline) newSink() *errorSink { return &errorSink{file: p.File, origin: p.origin} }

// linesOf is the text of the file n was written in.
func (p *Pipeline) linesOf(n *yaml.Node) []string {
	if _, ok := p.origin[n]; ok {
		return p.plines
	}
	return p.lines
}

// Stages lists the consumer, the transformers and the loaders, in pipeline order.
func (p *Pipeline) Stages() []*Stage {
	var out []*Stage
	if p.Consumer != nil {
		out = append(out, p.Consumer)
	}
	for _, group := range [][]*Stage{p.Transformers, p.Loaders} {
		for _, st := range group {
			if st != nil {
				out = append(out, st)
			}
		}
	}
	return out
}

// Options tune loading. The zero value reads the process environment.
type Options struct {
	LookupEnv LookupFunc // nil: os.LookupEnv
	// Strict lists the top-level keys ("loaders", "state") whose ${VAR}s must all be set; nil means every key.
	// Elsewhere a value naming a missing variable is left as written and not checked, for a command that never
	// builds those stages: `jetflow iceberg show` reads the loaders only and needs no consumer DSN. Such a
	// pipeline is for BuildLoaders, not Build.
	Strict []string
	// Redactor receives the pipeline's secrets; nil: a new one per pipeline (Pipeline.Redactor). The CLI passes
	// the one its stderr and report pass through.
	Redactor *stage.Redactor
}

// Load reads and checks one pipeline file.
func Load(path string) (*Pipeline, error) { return Options{}.Load(path) }

// LoadPaths loads files and the *.yaml/*.yml files under directories (skipping *.test.yaml), sorted by path.
// It returns the pipelines that loaded and, as one ErrorList, the errors of all files.
func LoadPaths(paths ...string) ([]*Pipeline, error) { return Options{}.LoadPaths(paths...) }

// Load reads and checks one pipeline file, with the defaults of the project file beside it (ProjectFile).
func (o Options) Load(path string) (*Pipeline, error) {
	return o.load(path, projectFor)
}

func (o Options) load(path string, projectOf func(string) (*project, error)) (*Pipeline, error) {
	if filepath.Base(path) == ProjectFile {
		return nil, ErrorList{{File: path, Msg: "this is the project file of its folder (defaults its pipelines inherit), " +
			"not a pipeline: name the folder (jetflow validate " + filepath.Dir(path) + ") or a pipeline file in it"}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("cannot read pipeline file: %v", unwrapPathErr(err))}}
	}
	pr, err := projectOf(path)
	if err != nil {
		return nil, err
	}
	return o.parse(path, data, pr)
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// LoadPaths is the package-level LoadPaths with these options.
func (o Options) LoadPaths(paths ...string) ([]*Pipeline, error) {
	var files []string
	var errs ErrorList
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			errs = append(errs, &Error{File: root, Msg: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))})
			continue
		}
		if !info.IsDir() {
			files = append(files, root)
			continue
		}
		err = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, &Error{File: p, Msg: fmt.Sprintf("cannot read: %v", unwrapPathErr(err))})
				return nil
			}
			if de.IsDir() || !IsPipelineFile(de.Name()) {
				return nil
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			errs = append(errs, &Error{File: root, Msg: err.Error()})
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	var out []*Pipeline
	byName := map[string]*Pipeline{}
	// Each folder's project file is read once; its errors, and those of the values it gives, which every
	// pipeline inheriting them would repeat, are reported once.
	type loadedProject struct {
		pr  *project
		err error
	}
	projects := map[string]loadedProject{}
	projectOf := func(file string) (*project, error) {
		pf := projectPath(file)
		lp, ok := projects[pf]
		if !ok {
			lp.pr, lp.err = loadProject(pf)
			projects[pf] = lp
		}
		return lp.pr, lp.err
	}
	seen := map[Error]bool{}
	for _, f := range files {
		p, err := o.load(f, projectOf)
		var list ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				if !seen[*e] {
					seen[*e] = true
					errs = append(errs, e)
				}
			}
		} else if err != nil {
			errs = append(errs, &Error{File: f, Msg: err.Error()})
		}
		if p == nil {
			continue
		}
		p.Warnings = slices.DeleteFunc(p.Warnings, func(w *Error) bool {
			if w.File == f {
				return false
			}
			dup := seen[*w]
			seen[*w] = true
			return dup
		})
		if first, dup := byName[p.Name]; dup {
			n := p.vals["name"]
			line, col := 0, 0
			if n != nil {
				line, col = n.Line, n.Column
			}
			errs = append(errs, &Error{File: f, Line: line, Col: col, Msg: fmt.Sprintf(
				"name: pipeline %q is already defined in %s; pipeline names must be unique", p.Name, first.File)})
			continue
		}
		byName[p.Name] = p
		out = append(out, p)
	}
	return out, errs.Err()
}

// IsPipelineFile says whether a file name in a folder of pipelines is a pipeline: *.yaml or *.yml, but neither a
// stage test file (*.test.yaml) nor the project file.
func IsPipelineFile(name string) bool {
	if name == ProjectFile {
		return false
	}
	ext := filepath.Ext(name)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(name, ext), ".test")
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Parse checks a pipeline given as bytes; file names it in errors and anchors relative paths. It inherits from
// no project file.
func (o Options) Parse(file string, data []byte) (*Pipeline, error) { return o.parse(file, data, nil) }

func (o Options) parse(file string, data []byte, pr *project) (*Pipeline, error) {
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	sink := &errorSink{file: file, quiet: map[*yaml.Node]bool{}, origin: map[*yaml.Node]string{}}
	root := parseYAML(sink, data, false)
	if root == nil {
		return nil, sink.list.Err()
	}
	// The project's defaults join the tree before anything else looks at it, so every key a pipeline may hold is
	// inherited the same way, and ${VAR}s, secrets and positions work in inherited values as in the pipeline's.
	pr.inherit(root, sink.origin)
	orig := map[*yaml.Node]string{}
	// tests are interpreted by the test runner, which decides itself when variables are needed.
	ex := &expander{lookup: lookup, orig: orig, sink: sink, skip: map[string]bool{"tests": true}}
	if o.Strict != nil {
		ex.strict = func(key string) bool { return slices.Contains(o.Strict, key) }
	}
	ex.expandTree(root, "", false)

	d := newDecoder(sink, orig, root)
	p := &Pipeline{File: file, root: root, lines: strings.Split(string(data), "\n"), origin: sink.origin}
	if pr != nil {
		p.Project, p.plines = pr.file, pr.lines
	}
	d.decodeStruct(reflect.ValueOf(&p.Spec).Elem(), root, "", nil)
	d.complete(&p.Spec, "")
	p.keys, p.vals, p.hidden, p.failed = d.keys, d.vals, d.hidden, d.failed
	p.Redactor = o.Redactor
	if p.Redactor == nil {
		p.Redactor = stage.NewRedactor()
	}
	p.Redactor.Add(ex.subs...)
	p.Redactor.Add(d.secret...)
	p.Warnings = d.warn
	p.Warnings.Sort()

	p.checkTop(sink)
	nameStages(sink, p.Stages())
	if err := sink.list.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// parseYAML parses one YAML document into its root mapping, turning syntax errors into positioned errors. An
// empty project file is no error (nil, and no error recorded).
func parseYAML(sink *errorSink, data []byte, isProject bool) *yaml.Node {
	what, empty := "a pipeline file", "the file is empty: a pipeline needs at least name, consumer and loaders"
	if isProject {
		what = "a project file"
	}
	// yaml.v3 reports tabs as "found character that cannot start any token"; say what is wrong instead.
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if j := strings.IndexByte(indent, '\t'); j >= 0 && strings.TrimSpace(line) != "" {
			sink.list = append(sink.list, &Error{File: sink.file, Line: i + 1, Col: j + 1,
				Msg: "tab character in indentation: YAML indents with spaces only"})
			return nil
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			if !isProject {
				sink.list = append(sink.list, &Error{File: sink.file, Line: 1, Col: 1, Msg: empty})
			}
			return nil
		}
		sink.list = append(sink.list, YAMLSyntaxError(sink.file, err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		sink.at(&extra, "%s holds one YAML document; remove this second one (or the --- before it)", what)
	}
	if len(doc.Content) == 0 {
		if !isProject {
			sink.list = append(sink.list, &Error{File: sink.file, Line: 1, Col: 1, Msg: empty})
		}
		return nil
	}
	root := deref(doc.Content[0])
	if isProject && isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		d := decoder{}
		keys := "(name:, consumer:, loaders:, ...)"
		if isProject {
			keys = "(defaults:)"
		}
		sink.at(root, "%s is a mapping of keys %s, got %s", what, keys, d.got(root))
		return nil
	}
	return root
}

// checkTop checks what the tags cannot say about the top-level keys.
func (p *Pipeline) checkTop(sink *errorSink) {
	if p.Name != "" && !nameRE.MatchString(p.Name) {
		sink.at(p.vals["name"], "name: %q is not a valid pipeline name: use lowercase letters, digits, _ and -, starting with a letter", p.Name)
	}
	at := func(path string) *yaml.Node {
		if n := p.vals[path]; n != nil {
			return n
		}
		for path != "" {
			i := strings.LastIndexByte(path, '.')
			if i < 0 {
				break
			}
			path = path[:i]
			if n := p.vals[path]; n != nil {
				return n
			}
		}
		return p.root
	}
	if err := checkEvery(p.RunInstance.Every.D()); err != nil && !p.failed["run_instance.every"] {
		sink.at(at("run_instance.every"), "run_instance.every: %s", p.scrub("run_instance.every", err.Error()))
	}
	loc, err := time.LoadLocation(p.RunInstance.Timezone)
	switch {
	case err != nil || p.RunInstance.Timezone == "" || p.RunInstance.Timezone == "Local":
		sink.at(at("run_instance.timezone"), "run_instance.timezone: unknown time zone %s: want an IANA name such as UTC or Europe/Paris",
			p.shownAt("run_instance.timezone", p.RunInstance.Timezone))
	default:
		p.Location = loc
	}
	r := p.Retries
	if r.Attempts < 1 {
		sink.at(at("retries.attempts"), "retries.attempts: want at least 1 (the first try counts), got %d", r.Attempts)
	}
	if r.Backoff < 0 {
		sink.at(at("retries.backoff"), "retries.backoff: must not be negative")
	}
	if r.MaxBackoff < r.Backoff {
		sink.at(at("retries.max_backoff"), "retries.max_backoff: %s is shorter than retries.backoff %s", fmtDuration(r.MaxBackoff.D()), fmtDuration(r.Backoff.D()))
	}
	for i, t := range p.Notify {
		path := fmt.Sprintf("notify[%d]", i)
		if len(t.On) == 0 {
			sink.at(at(path+".on"), "%s.on: an empty list sends nothing: list events (failure, recovery, freshness) or remove the target", path)
		}
		if t.Type == "slack" && t.Secret != "" {
			sink.at(at(path+".secret"), "%s.secret: a Slack incoming webhook is not signed: remove secret, or use type: webhook", path)
		}
	}
	if p.State.Type == "postgres" && p.State.DSN == "" {
		sink.at(at("state"), "state: type postgres needs dsn (write dsn: ${VAR} to take it from the environment)")
	}
}

// shownAt is how a message quotes the value at path: its ${VAR} text when it came from the environment.
func (p *Pipeline) shownAt(path, value string) string {
	return strconv.Quote(p.scrub(path, value))
}

func (p *Pipeline) scrub(path, msg string) string {
	d := decoder{hidden: p.hidden}
	return d.scrubUnder(path, msg)
}

// checkEvery accepts whole days, or whole minutes dividing a day.
func checkEvery(every time.Duration) error {
	const day = 24 * time.Hour
	switch {
	case every <= 0:
		return fmt.Errorf("want a positive duration such as 1d or 1h, got %s", fmtDuration(every))
	case every%day == 0:
		return nil
	case every > day:
		return fmt.Errorf("%s is longer than a day but not a whole number of days", fmtDuration(every))
	case every%time.Minute != 0:
		return fmt.Errorf("%s is not a whole number of minutes", fmtDuration(every))
	case day%every != 0:
		return fmt.Errorf("%s does not divide a day: use whole days or a divisor of 24h such as 1h, 2h, 3h, 4h, 6h, 8h, 12h, 15m or 30m", fmtDuration(every))
	}
	return nil
}

// nameStages gives every stage a unique label: its name:, or its type, suffixed #2, #3 when the type repeats.
func nameStages(sink *errorSink, stages []*Stage) {
	used := map[string]*Stage{}
	for _, st := range stages {
		if st.Name == "" {
			continue
		}
		if first, dup := used[st.Name]; dup {
			sink.at(st.NameNode, "%s.name: %q is already the name of %s; stage names must be unique", st.Path, st.Name, first.Path)
			continue
		}
		used[st.Name] = st
	}
	count := map[string]int{}
	for _, st := range stages {
		if st.Name != "" || st.Type == "" {
			continue
		}
		for {
			count[st.Type]++
			name := st.Type
			if c := count[st.Type]; c > 1 {
				name = fmt.Sprintf("%s#%d", st.Type, c)
			}
			if used[name] == nil {
				st.Name = name
				used[name] = st
				break
			}
		}
	}
}

// fmtDuration prints a duration as people write it: 7h, 1m30s, 2d.
func fmtDuration(d time.Duration) string {
	if d > 0 && d%day == 0 {
		return stage.Duration(d).String()
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
