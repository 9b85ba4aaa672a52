package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jetflow-dev/jetflow/consumers/kafka/internal/kavro"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/jetflow-dev/jetflow/arrowtype"
	"github.com/jetflow-dev/jetflow/stage"
)

// RegistryConfig points format avro at a Confluent-compatible schema registry.
type RegistryConfig struct {
	URL        string         `yaml:"url" fingerprint:"-" doc:"Base URL of a Confluent-compatible schema registry (http or https), without credentials in it: https://registry:8081. With it, avro_wire is confluent: each message's schema id is looked up there (GET /schemas/ids/{id}, once per id) as the writer's schema."`
	Subject    string         `yaml:"subject" default:"{topic}-value" doc:"Subject whose latest version (GET /subjects/{subject}/versions/latest, read once when the consumer starts) is the reader's schema, the columns; {topic} is replaced by each topic's name. With several topics, every topic's subject must give the same columns."`
	KeySubject string         `yaml:"key_subject" default:"{topic}-key" doc:"With key_format: avro, the subject whose latest version is the reader's schema of the keys, the kafka_key column's type; {topic} is replaced by each topic's name, and every topic's must give the same type."`
	Username   string         `yaml:"username" fingerprint:"-" doc:"HTTP basic auth user (with password)."`
	Password   stage.Secret   `yaml:"password" fingerprint:"-" doc:"HTTP basic auth password, from the environment: ${REGISTRY_PASSWORD}."`
	Token      stage.Secret   `yaml:"token" fingerprint:"-" doc:"Bearer token, from the environment: ${REGISTRY_TOKEN}; instead of username and password."`
	Timeout    stage.Duration `yaml:"timeout" fingerprint:"-" default:"10s" min:"1ms" doc:"Time one registry request may take at most."`
}

// checkRegistry validates schema_registry and the keys it goes with; it returns the base URL.
func checkRegistry(cfg *Config) (*url.URL, error) {
	r := &cfg.Registry
	if cfg.Format != "avro" {
		return nil, stage.FieldErrorf("schema_registry", "schema_registry holds Avro schemas; it needs format: avro")
	}
	if cfg.AvroWire == "plain" {
		return nil, stage.FieldErrorf("avro_wire", "with schema_registry each message starts with the Confluent header (a zero byte and the schema id); set avro_wire: confluent or remove it")
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, stage.FieldErrorf("schema_registry.url", "schema_registry.url must be an http:// or https:// URL, like https://registry:8081")
	}
	if u.User != nil {
		return nil, stage.FieldErrorf("schema_registry.url", "put credentials in schema_registry.username and password (or token), not in the URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, stage.FieldErrorf("schema_registry.url", "schema_registry.url is a base URL, without ?query or #fragment")
	}
	switch {
	case r.Token != "" && (r.Username != "" || r.Password != ""):
		return nil, stage.FieldErrorf("schema_registry.token", "give a token or username and password, not both")
	case (r.Username == "") != (r.Password == ""):
		return nil, stage.FieldErrorf("schema_registry.username", "basic auth needs both username and password")
	}
	if r.Subject == "" {
		return nil, stage.FieldErrorf("schema_registry.subject", "subject must not be empty (default: {topic}-value)")
	}
	if r.Timeout < 0 {
		return nil, stage.FieldErrorf("schema_registry.timeout", "timeout must not be negative")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// registry fetches schemas from a schema registry, through franz-go's client, and keeps every writer's schema it
// has compiled, by id. It is shared by all of a consumer's partition readers.
type registry struct {
	base    *url.URL
	subject string
	cl      *sr.Client

	mu  sync.RWMutex
	ids map[uint32]*kavro.Schema
	// fetch is held while an id is asked for, so partitions meeting a new id at once ask the registry once.
	fetch sync.Mutex
}

func newRegistry(cfg *Config, base *url.URL) *registry {
	opts := []sr.ClientOpt{sr.URLs(base.String()), sr.UserAgent("jetflow"),
		sr.HTTPClient(&http.Client{Timeout: cfg.Registry.Timeout.D(), Transport: capBodies{http.DefaultTransport}})}
	switch r := &cfg.Registry; {
	case r.Token != "":
		opts = append(opts, sr.BearerToken(r.Token.Reveal()))
	case r.Username != "":
		opts = append(opts, sr.BasicAuth(r.Username, r.Password.Reveal()))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil { // it fails only without URLs or an HTTP client, both given above
		panic("kafka: sr.NewClient: " + err.Error())
	}
	return &registry{base: base, subject: cfg.Registry.Subject, cl: cl, ids: map[uint32]*kavro.Schema{}}
}

// subjectOf is the subject of a topic's values.
func (g *registry) subjectOf(topic string) string {
	return strings.ReplaceAll(g.subject, "{topic}", topic)
}

// registryError is a failed request the message is not to blame for (the registry is down, refuses the
// credentials): it fails the read whatever on_error says.
type registryError struct{ err error }

func (e *registryError) Error() string { return e.err.Error() }
func (e *registryError) Unwrap() error { return e.err }

// errNotFound marks a 404: the subject, version or id does not exist.
var errNotFound = errors.New("not found")

// maxResponse bounds what is read of a registry's response: a schema is kilobytes, and pkg/sr reads bodies whole.
const maxResponse = 16 << 20

var errTooLarge = fmt.Errorf("the response is over %d MiB", maxResponse>>20)

// capBodies makes a response body fail once it passes maxResponse, which pkg/sr has no option for.
type capBodies struct{ rt http.RoundTripper }

func (c capBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxResponse}
	}
	return resp, err
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// fail turns an error of the registry client into one that names the URL (never the credentials) and what was
// asked for; a 404 wraps errNotFound (the message's fault: its id is unknown), anything else that is not about the
// schema itself is a registryError.
func (g *registry) fail(path, what string, err error) error {
	where := g.base.String() + path
	var re *sr.ResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden):
		return &registryError{fmt.Errorf("schema registry %s refused %s (HTTP %d): check schema_registry.username and password, or token",
			where, what, re.StatusCode)}
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
		return fmt.Errorf("schema registry %s: %s: %w (HTTP 404%s)", where, what, errNotFound, registryMessage(re))
	case errors.As(err, &re):
		return &registryError{fmt.Errorf("schema registry %s: %s: HTTP %d%s", where, what, re.StatusCode, registryMessage(re))}
	case errors.Is(err, errTooLarge):
		return &registryError{fmt.Errorf("schema registry %s: %s: %w", where, what, errTooLarge)}
	case errors.As(err, &ue): // its text repeats the URL; keep only the cause
		return &registryError{fmt.Errorf("schema registry %s is unreachable (%s): %w", where, what, ue.Err)}
	}
	return &registryError{fmt.Errorf("schema registry %s: %s: the response is not the registry's JSON: %w", where, what, err)}
}

// registryMessage is the registry's own error message, if its body had one.
func registryMessage(re *sr.ResponseError) string {
	if re.ErrorCode == 0 || re.Message == "" {
		return ""
	}
	return ": " + re.Message
}

// schema checks a fetched schema is one jetflow reads: Avro, and there.
func (g *registry) schema(path, what string, t sr.SchemaType, text string) error {
	if t != sr.TypeAvro {
		return fmt.Errorf("schema registry %s%s: %s is a %s schema, not Avro", g.base, path, what, t)
	}
	if text == "" {
		return &registryError{fmt.Errorf("schema registry %s%s: %s: the response has no schema", g.base, path, what)}
	}
	return nil
}

// latest fetches the reader's schema of a subject: its latest version's text. key: the schema is of keys, one
// value of any type; otherwise a record whose fields are the columns.
func (g *registry) latest(ctx context.Context, subject string, key bool) (string, error) {
	what := "subject " + strconv.Quote(subject)
	path := "/subjects/" + url.PathEscape(subject) + "/versions/latest"
	s, err := g.cl.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		return "", g.fail(path, what, err)
	}
	if err := g.schema(path, what, s.Type, s.Schema.Schema); err != nil {
		return "", err
	}
	id := uint32(s.ID)
	w := kavro.Compile(id, s.Schema.Schema)
	if err := w.Err; key || err != nil {
		if key {
			err = w.RootErr
		}
		if err != nil {
			return "", fmt.Errorf("schema registry %s: %s version %d (id %d): %w", g.base, what, s.Version, id, err)
		}
	}
	if id != 0 { // the messages written with the latest version need not ask for it again
		g.mu.Lock()
		if g.ids[id] == nil {
			g.ids[id] = w
		}
		g.mu.Unlock()
	}
	return s.Schema.Schema, nil
}

// writer returns the compiled writer's schema of id, asking the registry once per id. An id the registry does not
// have, or a schema that cannot be read, comes back as a Schema with Err set (cached: the messages with it
// are bad); a failed request (registry down, credentials refused) is an error and not cached.
func (g *registry) writer(ctx context.Context, id uint32) (*kavro.Schema, error) {
	g.mu.RLock()
	w := g.ids[id]
	g.mu.RUnlock()
	if w != nil {
		return w, nil
	}
	g.fetch.Lock()
	defer g.fetch.Unlock()
	g.mu.RLock()
	w = g.ids[id]
	g.mu.RUnlock()
	if w != nil {
		return w, nil
	}
	w = &kavro.Schema{ID: id}
	path, what := "/schemas/ids/"+strconv.FormatUint(uint64(id), 10), "schema id "+strconv.FormatUint(uint64(id), 10)
	s, err := g.cl.SchemaByID(ctx, int(id))
	if err != nil {
		err = g.fail(path, what, err)
	} else {
		err = g.schema(path, what, s.Type, s.Schema)
	}
	var re *registryError
	switch {
	case errors.As(err, &re):
		return nil, err
	case err != nil:
		w.Err, w.RootErr = err, err
	default:
		w = kavro.Compile(id, s.Schema)
		if w.Err != nil {
			w.Err = fmt.Errorf("schema registry %s: writer's schema id %d: %w", g.base, id, w.Err)
		}
		if w.RootErr != nil {
			w.RootErr = fmt.Errorf("schema registry %s: writer's schema id %d: %w", g.base, id, w.RootErr)
		}
	}
	g.mu.Lock()
	g.ids[id] = w
	g.mu.Unlock()
	return w, nil
}

// registryFields fetches the reader's schema, the latest version of each topic's subject, and returns its
// columns. Every subject must give the same columns, as every partition's batches have one schema.
func (c *Consumer) registryFields(ctx context.Context) ([]arrow.Field, error) {
	topics, err := c.subjectTopics(ctx, c.reg.subject, "subject")
	if err != nil {
		return nil, err
	}
	var first string
	var fields []arrow.Field
	seen := map[string]bool{}
	for _, t := range topics {
		subject := c.reg.subjectOf(t)
		if seen[subject] {
			continue
		}
		seen[subject] = true
		text, err := c.reg.latest(ctx, subject, false)
		if err != nil {
			return nil, fmt.Errorf("kafka: the reader's schema: %w", err)
		}
		fs, err := kavro.Columns(text)
		if err != nil {
			return nil, fmt.Errorf("kafka: the reader's schema, subject %q: %w", subject, err)
		}
		if first == "" {
			first, fields, c.readerText = subject, fs, text
			continue
		}
		if !arrow.NewSchema(fs, nil).Equal(arrow.NewSchema(fields, nil)) {
			return nil, fmt.Errorf("kafka: subjects %q and %q have different columns in their latest versions (%s; %s): read their topics in separate pipelines, or give avro_schema as the reader's schema of both",
				first, subject, columnList(fields), columnList(fs))
		}
	}
	return fields, nil
}

// subjectTopics lists the topics whose subjects (schema_registry.<key>, a name with {topic} in it) hold the
// schemas: the configured topics, those matching topic_regex now, or one "" when the subject names no topic.
func (c *Consumer) subjectTopics(ctx context.Context, subject, key string) ([]string, error) {
	if c.topicRe == nil {
		return c.cfg.Topics, nil
	}
	if !strings.Contains(subject, "{topic}") {
		return []string{""}, nil // the subject names no topic
	}
	_, topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("kafka: no topic matches topic_regex %q yet, so there is no %s to read the schema from; create a topic or set schema_registry.%s to a plain subject", c.cfg.TopicRegex, strings.ReplaceAll(key, "_", " "), key)
	}
	return topics, nil
}

// registryKeyType fetches the reader's schema of the keys, the latest version of each topic's key subject, and
// returns the kafka_key column's type. Every subject must give the same type.
func (c *Consumer) registryKeyType(ctx context.Context) (arrow.DataType, error) {
	subjectOf := func(t string) string { return strings.ReplaceAll(c.cfg.Registry.KeySubject, "{topic}", t) }
	topics, err := c.subjectTopics(ctx, c.cfg.Registry.KeySubject, "key_subject")
	if err != nil {
		return nil, err
	}
	var first string
	var typ arrow.DataType
	for _, t := range topics {
		subject := subjectOf(t)
		if subject == first {
			continue
		}
		text, err := c.reg.latest(ctx, subject, true)
		if err != nil {
			return nil, fmt.Errorf("kafka: the reader's schema of the keys (key_format: avro): %w", err)
		}
		w := kavro.Compile(0, text)
		if first == "" {
			first, typ, c.keyReaderText = subject, w.RootType, text
			continue
		}
		if !arrow.TypeEqual(typ, w.RootType) {
			return nil, fmt.Errorf("kafka: key subjects %q and %q have different types in their latest versions (%s; %s): read their topics in separate pipelines",
				first, subject, arrowtype.Format(typ), arrowtype.Format(w.RootType))
		}
	}
	return typ, nil
}

func columnList(fs []arrow.Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name + " " + arrowtype.Format(f.Type)
	}
	return strings.Join(parts, ", ")
}
