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
}

// Registration describes one stage type: its YAML name, its config struct, and its constructor.
type Registration struct {
	Kind Kind
	Name string // the YAML `type:`
	Doc  string // one paragraph for the reference
	// ConfigType is the config struct; its fields carry `yaml`, `doc`, `default`, `required` and `enum` tags that
	// the pipeline loader enforces and the reference documents.
	ConfigType reflect.Type
	build      func(BuildContext, any) (any, error)
}

// NewConfig returns a pointer to a zero config struct of this type.
func (r *Registration) NewConfig() any { return reflect.New(r.ConfigType).Interface() }

// Build runs the constructor on a config made by NewConfig and filled by the loader.
func (r *Registration) Build(bc BuildContext, cfg any) (any, error) { return r.build(bc, cfg) }

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
