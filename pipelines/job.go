package pipelines

import (
	"github.com/jetflow-dev/jetflow/engine"
)

// Job wires a built pipeline into what the engine runs: its stages under their names, the retry policy, the spec
// fingerprint. The CLI and tests that drive the engine directly share it.
func (p *Pipeline) Job(b *Built) *engine.Job {
	j := &engine.Job{
		Pipeline:    p.Name,
		Fingerprint: p.Fingerprint(),
		Source:      b.Source,
		SourceName:  b.SourceName,
		Redactor:    p.Redactor,
		Retry: engine.RetryPolicy{Attempts: p.Retries.Attempts, Backoff: p.Retries.Backoff.D(),
			MaxBackoff: p.Retries.MaxBackoff.D()},
	}
	for i, t := range b.Transformers {
		j.Transformers = append(j.Transformers, engine.NamedTransformer{Name: b.TransformerNames[i], Transformer: t})
	}
	for i, l := range b.Loaders {
		j.Loaders = append(j.Loaders, engine.NamedLoader{Name: b.LoaderNames[i], Loader: l})
	}
	return j
}
