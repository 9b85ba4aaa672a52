package stage

import (
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Kind says which part of a pipeline a stage type plays.
type Kind string

const (
	KindConsumer    Kind = "consumer"
	KindTransformer Kind = "transformer"
	KindLoader      Kind = "loader"
)

// BuildContext is what a stage constructor may use besides its own config.
type BuildContext struct {
	Pipeline string           // the pipeline's name
	Dir      string           // directory of the pipeline file, for fixtures given by relative path
	Alloc    memory.Allocator // every Arrow buffer a stage makes comes from here (tests pass a checked allocator)
	Logger   *slog.Logger
	// Redactor holds the pipeline's secrets (may be nil: nothing to redact). A stage registers there a secret it
	// learns at run time, such as an OAuth token, so that no output shows it.
	Redactor *Redactor
}

// complete fills what a constructor may rely on being set: the allocator and the logger.
func (bc BuildContext) complete() BuildContext {
	if bc.Alloc == nil {
		bc.Alloc = memory.DefaultAllocator
	}
	if bc.Logger == nil {
		bc.Logger = slog.Default()
	}
	return bc
}

// Registration describes one stage type: its YAML name, its config struct, and its constructor.
type Registration struct {
	Kind Kind
	Name string // the YAML `type:`
	Doc  string // one paragraph for the reference
	// ConfigType is the config struct; its fields carry `yaml`, `doc`, `default`, `required`, `enum`, `min` and
	// `max` tags (see Field) that Complete enforces and the reference documents.
	ConfigType reflect.Type
	build      func(BuildContext, any) (any, error)
}

// NewConfig returns a pointer to a zero config struct of this type.
func (r *Registration) NewConfig() any { return reflect.New(r.ConfigType).Interface() }

// Build completes a config made by NewConfig (Complete, with a zero value standing for an absent key) and the
// build context, then runs the constructor.
func (r *Registration) Build(bc BuildContext, cfg any) (any, error) {
	return r.BuildPresent(bc, cfg, nil)
}

// BuildPresent is Build for a config decoded from a file: present tells which keys the file gave (see Complete),
// so that a key written as 0 or false keeps that value.
func (r *Registration) BuildPresent(bc BuildContext, cfg any, present func(path string) bool) (any, error) {
	if reflect.TypeOf(cfg) != reflect.PointerTo(r.ConfigType) {
		return nil, fmt.Errorf("stage: %s %q takes a *%s, not %T", r.Kind, r.Name, r.ConfigType, cfg)
	}
	if err := Complete(cfg, present); err != nil {
		return nil, err
	}
	return r.build(bc.complete(), cfg)
}

// Build completes cfg and bc as Registration.Build does, then calls build: what an exported constructor taking a
// config built in Go (parquet.New) runs, so that it gets the same defaults and checks as a pipeline file.
func Build[C, S any](bc BuildContext, cfg *C, build func(BuildContext, *C) (S, error)) (S, error) {
	if err := Complete(cfg, nil); err != nil {
		var zero S
		return zero, err
	}
	return build(bc.complete(), cfg)
}

var (
	registryMu sync.RWMutex
	registry   = map[Kind]map[string]*Registration{}
)

func register[C any, S any](kind Kind, name, doc string, build func(BuildContext, *C) (S, error)) {
	t := reflect.TypeFor[C]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("stage: config of %s %q must be a struct, not %s", kind, name, t))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if registry[kind] == nil {
		registry[kind] = map[string]*Registration{}
	}
	if _, dup := registry[kind][name]; dup {
		panic(fmt.Sprintf("stage: %s type %q registered twice", kind, name))
	}
	registry[kind][name] = &Registration{
		Kind: kind, Name: name, Doc: doc, ConfigType: t,
		build: func(bc BuildContext, cfg any) (any, error) { return build(bc, cfg.(*C)) },
	}
}

// RegisterConsumer registers a consumer type. build returns a Consumer, a StreamConsumer, or a value that is both.
func RegisterConsumer[C any](name, doc string, build func(BuildContext, *C) (Source, error)) {
	register(KindConsumer, name, doc, build)
}

// RegisterTransformer registers a transformer type.
func RegisterTransformer[C any](name, doc string, build func(BuildContext, *C) (Transformer, error)) {
	register(KindTransformer, name, doc, build)
}

// RegisterLoader registers a loader type.
func RegisterLoader[C any](name, doc string, build func(BuildContext, *C) (Loader, error)) {
	register(KindLoader, name, doc, build)
}

// Lookup finds a registered stage type.
func Lookup(kind Kind, name string) (*Registration, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[kind][name]
	return r, ok
}

// Names lists the registered types of a kind, sorted.
func Names(kind Kind) []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry[kind]))
	for n := range registry[kind] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
