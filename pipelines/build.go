package pipelines

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"gopkg.in/yaml.v3"

	"github.com/jetflow-dev/jetflow/stage"
)

// Built is a pipeline whose stages are constructed, ready for the engine.
type Built struct {
	Source           stage.Source
	SourceName       string
	Transformers     []stage.Transformer
	TransformerNames []string
	Loaders          []stage.Loader
	LoaderNames      []string
	// Notes are findings of Validate that are not errors, such as a schema only known at the source.
	Notes ErrorList
}

// Close releases what the stages hold open (a connection pool a constructor opened); a stage that holds nothing
// has no Close.
func (b *Built) Close() error {
	all := []any{b.Source}
	for _, t := range b.Transformers {
		all = append(all, t)
	}
	for _, l := range b.Loaders {
		all = append(all, l)
	}
	var errs []error
	for _, st := range all {
		if c, ok := st.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// Build runs every stage's constructor. Errors of all stages are returned together, each at the position of the
// config key it names (a *stage.FieldError), or else at the stage's type:.
func (p *Pipeline) Build(bc stage.BuildContext) (*Built, error) {
	return p.build(bc, p.Stages())
}

// BuildLoaders runs the loaders' constructors only, for commands that work on the destination alone (jetflow
// iceberg): the consumer and the transformers are not built, so their settings need not be complete, as with a
// pipeline loaded with Options.Strict set to the loaders.
func (p *Pipeline) BuildLoaders(bc stage.BuildContext) (*Built, error) {
	return p.build(bc, p.Loaders)
}

func (p *Pipeline) build(bc stage.BuildContext, stages []*Stage) (*Built, error) {
	if bc.Pipeline == "" {
		bc.Pipeline = p.Name
	}
	if bc.Dir == "" {
		bc.Dir = filepath.Dir(p.File)
	}
	if bc.Logger == nil {
		// The stage's logger names the pipeline and the stage; stage.Registration fills the rest.
		bc.Logger = slog.Default()
	}
	if bc.Redactor == nil {
		bc.Redactor = p.Redactor
	}
	bc.Logger = slog.New(bc.Redactor.Handler(bc.Logger.Handler()))
	sink := p.newSink()
	b := &Built{}
	var srcStage *Stage
	var loaderStages []*Stage
	for _, st := range stages {
		if st == nil {
			continue
		}
		if st.Registration == nil { // its type: was a ${VAR} left unset outside Options.Strict
			sink.at(st.Node, "%s: cannot be built: its type is not known (is a variable it names unset?)", st.Path)
			continue
		}
		sbc := bc
		sbc.Logger = bc.Logger.With("pipeline", p.Name, "stage", st.Name)
		v, err := st.Build(sbc, st.Config)
		if err != nil {
			p.stageError(sink, st, "", err)
			continue
		}
		switch st.Kind {
		case stage.KindConsumer:
			src, ok := v.(stage.Source)
			if !ok || src == nil {
				sink.at(st.TypeNode, "%s: internal error: %s type %q built %T, not a stage.Source", st.Path, st.Kind, st.Type, v)
				continue
			}
			b.Source, b.SourceName, srcStage = src, st.Name, st
		case stage.KindTransformer:
			t, ok := v.(stage.Transformer)
			if !ok || t == nil {
				sink.at(st.TypeNode, "%s: internal error: %s type %q built %T, not a stage.Transformer", st.Path, st.Kind, st.Type, v)
				continue
			}
			b.Transformers, b.TransformerNames = append(b.Transformers, t), append(b.TransformerNames, st.Name)
		case stage.KindLoader:
			l, ok := v.(stage.Loader)
			if !ok || l == nil {
				sink.at(st.TypeNode, "%s: internal error: %s type %q built %T, not a stage.Loader", st.Path, st.Kind, st.Type, v)
				continue
			}
			b.Loaders, b.LoaderNames = append(b.Loaders, l), append(b.LoaderNames, st.Name)
			loaderStages = append(loaderStages, st)
		}
	}
	if err := sink.list.Err(); err != nil {
		return nil, err
	}
	p.wireTruncates(sink, b, srcStage, loaderStages)
	if err := sink.list.Err(); err != nil {
		return nil, err
	}
	return b, nil
}

// stageError reports err at the config keys its FieldErrors name, or at the stage's type:. what prefixes
// errors that name no field ("schema check").
func (p *Pipeline) stageError(sink *errorSink, st *Stage, what string, err error) {
	fields, other := stage.FieldErrors(err)
	for _, fe := range fields {
		path := st.Path
		if fe.Path != "" {
			path = st.Path + "." + strings.TrimPrefix(fe.Path, ".")
		}
		msg := fe.Err.Error()
		n := p.nodeAt(path, st, errors.Is(fe.Err, stage.ErrMissing))
		line, col := n.Line, n.Column
		if ve, ok := stage.ValueErrorOf(fe.Err); ok && n == p.vals[path] {
			var exact bool
			if line, col, exact = valuePos(p.linesOf(n), n, ve.ValueOffset()); exact {
				msg = strings.Replace(msg, ve.Error(), ve.Detail(), 1)
			} else {
				msg += " (in the value, which is folded or escaped: the position is its start)"
			}
		}
		sink.atPos(n, line, col, "%s: %s", path, p.scrub(st.Path, msg))
	}
	for _, e := range other {
		msg := p.scrub(st.Path, e.Error())
		if what != "" {
			msg = what + ": " + msg
		}
		sink.at(st.TypeNode, "%s (%s): %s", st.Path, st.Type, msg)
	}
}

// nodeAt is the node an error at path points at: the value when it is a scalar or a flow collection (an error
// about a value is about what is written there), else the key; for a missing key (missing), the mapping that
// lacks it. A path the file does not hold falls back to its nearest ancestor inside the stage, then the type:.
func (p *Pipeline) nodeAt(path string, st *Stage, missing bool) *yaml.Node {
	if missing {
		path, _ = splitPath(path)
	}
	for first := true; len(path) > len(st.Path); first = false {
		if v := p.vals[path]; v != nil && first && (v.Kind == yaml.ScalarNode || v.Style&yaml.FlowStyle != 0 || missing) {
			return v
		}
		if n := p.keys[path]; n != nil {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	if missing {
		return st.Node
	}
	if st.TypeNode != nil {
		return st.TypeNode
	}
	return st.Node
}

// Validate carries the schema from the source through every transformer into every loader's CheckSchema,
// without data. It returns the schema at the source then after each transformer. When the source's schema is
// only known at the source and connect is false, checking stops there: b.Notes says so, and that is no error.
func (p *Pipeline) Validate(ctx context.Context, b *Built, connect bool) ([]*arrow.Schema, error) {
	sink := p.newSink()
	src := p.Consumer
	p.checkKeyScans(sink, b)
	var schema *arrow.Schema
	declared, isDeclared := b.Source.(stage.DeclaredSchema)
	var ok bool
	if isDeclared {
		s, known, err := declared.DeclaredSchema()
		if err != nil {
			p.stageError(sink, src, "schema", err)
			return nil, sink.list.Err()
		}
		schema, ok = s, known && s != nil
	}
	if !ok {
		if !connect {
			b.Notes = append(b.Notes, &Error{File: p.newSink().fileOf(src.TypeNode), Line: src.TypeNode.Line, Col: src.TypeNode.Column, Msg: fmt.Sprintf(
				"note: %s (%s): the schema is only known at the source, so checking stops here; validate --connect would read it and check the rest",
				src.Path, src.Type)})
			return nil, nil
		}
		s, err := b.Source.Schema(ctx)
		if err != nil {
			p.stageError(sink, src, "reading the schema from the source", err)
			return nil, sink.list.Err()
		}
		schema = s
	}
	schemas := []*arrow.Schema{schema}
	for i, t := range b.Transformers {
		out, err := t.OutputSchema(schema)
		if err != nil {
			p.stageError(sink, p.Transformers[i], "", err)
			// Later stages would only repeat this error in other words.
			return schemas, sink.list.Err()
		}
		schema = out
		schemas = append(schemas, schema)
	}
	for i, l := range b.Loaders {
		if err := l.CheckSchema(schema); err != nil {
			p.stageError(sink, p.Loaders[i], "", err)
		}
	}
	return schemas, sink.list.Err()
}
