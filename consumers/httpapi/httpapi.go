// Package httpapi is the `httpapi` consumer: paginated JSON APIs read into Arrow batches.
//
// Each response body is walked token by token with encoding/json's streaming Decoder: the records array at
// `records` is decoded straight into Arrow builders, the few scalars pagination needs (a cursor, a next URL, a
// total) are picked up on the way, and everything else is skipped without being built. A body is never held
// whole in memory, and no record becomes a map.
//
// A partition is a run instance, a date window of it, or one id of a list. Its pages are read in order and
// emitted in batches cut between pages; a failure half-way through a partition fails it, and the engine re-reads
// it whole, so its output appears exactly once.
package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/jetflow-dev/jetflow/stage"
)

const doc = "Reads paginated JSON APIs (REST, SaaS) into Arrow: records at a path of each response are decoded " +
	"straight into Arrow builders from a streaming JSON decoder. Pagination by page number, offset and limit, a " +
	"cursor or next URL in the body, or a Link header; bearer, basic, API key and OAuth2 client-credentials auth; " +
	"a rate limit, a concurrency limit, retries with backoff that honour Retry-After. Partitions are date windows " +
	"of the run instance or a list of ids."

func init() {
	stage.RegisterConsumer[Config]("httpapi", doc, func(bc stage.BuildContext, cfg *Config) (stage.Source, error) {
		return construct(bc, cfg)
	})
}

// Consumer is the built `httpapi` consumer. It is safe for concurrent Read calls, which share its rate and
// concurrency limits.
type Consumer struct {
	cfg      Config
	pipeline string
	alloc    memory.Allocator
	log      *slog.Logger
	client   *client
	tmpl     tmpls
	declared *arrow.Schema // nil when inferred
	main     endpoint
	child    *endpoint     // fanout; nil without
	parents  []arrow.Field // parent_fields or fanout.carry: the last columns of every batch

	mu       sync.Mutex // held while inferring
	inferred *arrow.Schema
	runMu    sync.Mutex
	lastRun  stage.RunInstance // the run planned last: inference reads its first partition

	wmMu     sync.Mutex
	resume   string // the stored watermark, given by ResumeWatermark
	resumed  bool
	advanced map[string]string // partition key -> watermark after reading it whole
}

var (
	_ stage.Consumer       = (*Consumer)(nil)
	_ stage.DeclaredSchema = (*Consumer)(nil)
)

// endpoint is what differs between the parent request and the fan-out's child request.
type endpoint struct {
	tmpl        tmpls
	records     string
	pg          Pagination
	captures    []string // cursor_path, next_url_path, total_path (in that order; "" when unused)
	parentPaths []string // parent_fields paths (parent endpoint only)
	prefix      string   // config path of the endpoint's keys: "" or "fanout."
	// walkers keeps walkers and their 64KiB scanner buffers between reads: a fan-out reads one child
	// endpoint per parent record.
	walkers sync.Pool
}

// tmpls are the parsed templates of a request.
type tmpls struct {
	url     *template.Template
	body    *template.Template
	headers map[string]*template.Template
	params  map[string]*template.Template
}

// TemplateData is what the url, params, headers and body templates see.
type TemplateData struct {
	Pipeline    string
	RunInstance Time   // the run instance's start
	RunLabel    string // its canonical text, e.g. 2026-11-22
	Partition   TemplatePartition
	Parent      map[string]string // fanout: the parent record's top-level scalar fields
}

// TemplatePartition is the partition as templates see it.
type TemplatePartition struct {
	Key    string
	Lo, Hi any // Time for date windows, the id (a string) for id lists
}

// Time prints as RFC 3339 in templates, which is what most APIs take.
type Time struct{ time.Time }

func (t Time) String() string { return t.UTC().Format(time.RFC3339) }

func asTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case Time:
		return t.Time, nil
	case time.Time:
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%v is not a time", v)
}

var templateFuncs = template.FuncMap{
	// date is written as a pipeline stage: {{ .Partition.Lo | date "2006-01-02" }}.
	"date": func(layout string, v any) (string, error) {
		t, err := asTime(v)
		return t.UTC().Format(layout), err
	},
	"unix": func(v any) (int64, error) {
		t, err := asTime(v)
		return t.Unix(), err
	},
}

// New builds the consumer from a config built in Go, completed by its tags as the registry completes one from a
// pipeline file (a zero field takes its default). Every config problem is a stage.FieldError.
func New(bc stage.BuildContext, cfg *Config) (*Consumer, error) {
	return stage.Build(bc, cfg, construct)
}

// construct builds the consumer from a complete config. The tags have checked every key alone (required, enums,
// bounds); what is left here relates keys to each other, or parses their text.
func construct(bc stage.BuildContext, cfg *Config) (*Consumer, error) {
	c := &Consumer{cfg: *cfg, pipeline: bc.Pipeline, alloc: bc.Alloc, log: bc.Logger}
	errs := c.parseTemplates()
	if len(errs) == 0 {
		errs = append(errs, c.renderSample()...)
	}
	c.main.records, c.main.pg = cfg.Records, cfg.Pagination
	errs = append(errs, c.main.checkPagination()...)
	if c.child != nil {
		errs = append(errs, c.child.checkPagination()...)
	}
	errs = append(errs, c.parseParentFields()...)
	errs = append(errs, c.checkPartition()...)
	errs = append(errs, c.checkIncremental()...)
	errs = append(errs, c.checkExtraColumn()...)
	if cfg.Fanout != nil {
		errs = append(errs, c.declareFanoutSchema()...)
	} else if len(cfg.Schema) > 0 {
		errs = append(errs, c.declareSchema()...)
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	auth, secrets, err := newAuth(cfg.Auth, hc)
	if err != nil {
		errs = append(errs, err)
	}
	registerAuth(bc.Redactor, auth)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.client = c.newClient(hc, auth, secrets)
	return c, nil
}

// problems collects FieldErrors.
type problems []error

func (p *problems) fail(path, format string, args ...any) {
	*p = append(*p, stage.FieldErrorf(path, format, args...))
}

// parseTemplates parses the url, body, headers and params templates, and the fan-out's.
func (c *Consumer) parseTemplates() problems {
	var errs problems
	cf := &c.cfg
	parse := func(path, text string) *template.Template {
		t, err := template.New(path).Funcs(templateFuncs).Option("missingkey=error").Parse(text)
		if err != nil {
			errs.fail(path, "%v", err)
			return nil
		}
		return t
	}
	c.main.tmpl.url = parse("url", cf.URL)
	if cf.Body != "" {
		c.main.tmpl.body = parse("body", cf.Body)
	}
	c.main.tmpl.headers = map[string]*template.Template{}
	for k, v := range cf.Headers {
		c.main.tmpl.headers[k] = parse("headers."+k, v)
	}
	c.main.tmpl.params = map[string]*template.Template{}
	for k, v := range cf.Params {
		c.main.tmpl.params[k] = parse("params."+k, v)
	}
	if fo := cf.Fanout; fo != nil {
		c.child = &endpoint{records: fo.Records, pg: fo.Pagination, prefix: "fanout.", tmpl: tmpls{headers: c.main.tmpl.headers, params: map[string]*template.Template{}}}
		c.child.tmpl.url = parse("fanout.url", fo.URL)
		for k, v := range fo.Params {
			c.child.tmpl.params[k] = parse("fanout.params."+k, v)
		}
	}
	return errs
}

// renderSample renders the first request of a sample run, which finds unknown fields ({{ .Partition.Low }}) and
// bad URLs now, not mid-run.
func (c *Consumer) renderSample() problems {
	var errs problems
	sample := stage.RunInstance{Start: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), Label: "2026-11-22"}
	if parts, err := c.Partitions(context.Background(), sample); err == nil && len(parts) > 0 {
		if _, err := c.render(parts[0], nil); err != nil {
			var fe *stage.FieldError
			if errors.As(err, &fe) {
				errs = append(errs, fe)
			} else {
				errs.fail("url", "%v", err)
			}
		}
	}
	return errs
}

// parseParentFields types the parent_fields columns, which must lie outside the records.
func (c *Consumer) parseParentFields() problems {
	var errs problems
	cf := &c.cfg
	parentNames := map[string]int{}
	for i, pf := range cf.ParentFields {
		path := fmt.Sprintf("parent_fields[%d]", i)
		if overlapsRecords(pf.Path, cf.Records) {
			errs.fail(path+".path", "path %q must name a value outside the records %q", pf.Path, cf.Records)
		}
		if j, dup := parentNames[pf.Name]; dup {
			errs.fail(path+".name", "parent field %q is already declared at parent_fields[%d]", pf.Name, j)
		}
		parentNames[pf.Name] = i
		dt, err := parseType(pf.Type)
		if err != nil {
			errs = append(errs, &stage.FieldError{Path: path + ".type", Err: err})
			continue
		}
		c.parents = append(c.parents, arrow.Field{Name: pf.Name, Type: dt, Nullable: true})
		c.main.parentPaths = append(c.main.parentPaths, pf.Path)
	}
	return errs
}

// checkPartition checks that the partition keys go together.
func (c *Consumer) checkPartition() problems {
	var errs problems
	pc := c.cfg.Partition
	if pc.Every > 0 && len(pc.IDs) > 0 {
		errs.fail("partition", "set partition.every or partition.ids, not both")
	}
	if (pc.SinceParam != "" || pc.UntilParam != "") && pc.Every == 0 {
		errs.fail("partition.every", "since_param and until_param need every, the window length")
	}
	if pc.IDParam != "" && len(pc.IDs) == 0 {
		errs.fail("partition.ids", "id_param needs ids")
	}
	seen := map[string]int{}
	for i, id := range pc.IDs {
		if j, dup := seen[id]; dup {
			errs.fail(fmt.Sprintf("partition.ids[%d]", i), "id %q is already listed at ids[%d]", id, j)
		}
		seen[id] = i
	}
	return errs
}

// checkIncremental checks that incremental's keys fit the way partitions are cut.
func (c *Consumer) checkIncremental() problems {
	var errs problems
	inc, pc := c.cfg.Incremental, c.cfg.Partition
	switch {
	case inc == nil:
	case len(pc.IDs) > 0:
		errs.fail("incremental", "incremental does not combine with partition.ids: each id would need a watermark of its own; run one pipeline per id, or read by date windows (partition.every)")
	case pc.Every > 0:
		// The windows carry the bounds; a field's greatest value would leave gaps (a window with no record
		// keeps an old watermark) and re-read the record at the watermark.
		if inc.Field != "" {
			errs.fail("incremental.field", "with partition.every the watermark is the end of the last window read, not a field: remove incremental.field")
		}
		if inc.Param != "" {
			errs.fail("incremental.param", "with partition.every the windows' bounds go to partition.since_param and partition.until_param: remove incremental.param")
		}
		if inc.Initial != "" {
			if _, err := parseWindowBound(inc.Initial); err != nil {
				errs.fail("incremental.initial", "%v", err)
			}
		}
	default:
		if inc.Field == "" {
			errs.fail("incremental.field", "incremental needs field, the record field whose greatest value is the watermark (or partition.every, to resume by date windows)")
		}
		if inc.Param == "" {
			errs.fail("incremental.param", "incremental needs param, the query parameter that sends the watermark")
		}
	}
	return errs
}

// checkExtraColumn checks that schema_evolution: extra_column names a column of its own.
func (c *Consumer) checkExtraColumn() problems {
	var errs problems
	cf := &c.cfg
	if cf.SchemaEvolution != evolveExtra {
		return nil
	}
	cols, at := cf.Schema, "schema"
	if cf.Fanout != nil {
		cols, at = cf.Fanout.Schema, "fanout.schema"
	}
	for i, col := range cols {
		if col.Name == cf.ExtraColumn {
			errs.fail("extra_column", "extra_column %q is already declared at %s[%d]; choose another name", cf.ExtraColumn, at, i)
		}
	}
	for i, pf := range cf.ParentFields {
		if pf.Name == cf.ExtraColumn {
			errs.fail("extra_column", "extra_column %q is already a parent field (parent_fields[%d]); choose another name", cf.ExtraColumn, i)
		}
	}
	return errs
}

// declareFanoutSchema declares the children's columns and the parent fields carried down to them.
func (c *Consumer) declareFanoutSchema() problems {
	var errs problems
	cf, fo := &c.cfg, c.cfg.Fanout
	if len(cf.Schema) > 0 {
		errs.fail("schema", "with fanout the rows are the children: declare their columns in fanout.schema")
	}
	if len(cf.ParentFields) > 0 {
		errs.fail("parent_fields", "with fanout, carry parent values to the children with fanout.carry")
	}
	if cf.Incremental != nil {
		errs.fail("incremental", "incremental does not combine with fanout yet")
	}
	fields, ferrs := parseColumns("fanout.schema", fo.Schema)
	errs = append(errs, ferrs...)
	names := map[string]bool{}
	for _, f := range fields {
		names[f.Name] = true
	}
	for i, cr := range fo.Carry {
		path := fmt.Sprintf("fanout.carry[%d]", i)
		if names[cr.Name] {
			errs.fail(path+".name", "column %q is already a column of the children or carried before", cr.Name)
			continue
		}
		names[cr.Name] = true
		dt, err := parseType(cr.Type)
		if err != nil {
			errs = append(errs, &stage.FieldError{Path: path + ".type", Err: err})
			continue
		}
		c.parents = append(c.parents, arrow.Field{Name: cr.Name, Type: dt, Nullable: true})
	}
	c.declared = arrow.NewSchema(append(append(fields, c.extraFields()...), c.parents...), nil)
	return errs
}

// declareSchema declares the records' columns, then the parent fields after them.
func (c *Consumer) declareSchema() problems {
	cf := &c.cfg
	fields, ferrs := parseColumns("schema", cf.Schema)
	errs := problems(ferrs)
	for _, pf := range c.parents {
		for j, col := range cf.Schema {
			if col.Name == pf.Name {
				errs.fail("parent_fields", "parent field %q has the name of schema[%d]", pf.Name, j)
				break
			}
		}
	}
	c.declared = arrow.NewSchema(append(append(fields, c.extraFields()...), c.parents...), nil)
	if inc := cf.Incremental; inc != nil && inc.Field != "" {
		if err := checkWatermarkField(c.declared, inc.Field); err != nil {
			errs = append(errs, &stage.FieldError{Path: "incremental.field", Err: err})
		}
	}
	return errs
}

// newClient is the HTTP client of the consumer's requests: auth, limits, retries and what to redact.
func (c *Consumer) newClient(hc *http.Client, auth authenticator, secrets []string) *client {
	cf := &c.cfg
	redact := map[string]bool{"authorization": true}
	for _, n := range cf.Redact {
		redact[strings.ToLower(n)] = true
	}
	if cf.Auth.Type == "api_key" && cf.Auth.In == "query" {
		redact[strings.ToLower(cf.Auth.Name)] = true
	}
	var lim *limiter
	if cf.RateLimit > 0 {
		lim = &limiter{interval: time.Duration(float64(time.Second) / cf.RateLimit)}
	}
	return &client{
		hc: hc, auth: auth, log: c.log, limiter: lim, sem: make(chan struct{}, cf.Concurrency),
		retries: cf.Retries, backoff: cf.Backoff.D(), maxBackoff: cf.MaxBackoff.D(), timeout: cf.Timeout.D(),
		maxSize: int64(cf.MaxResponseSize), redact: redact, secrets: secrets, sleep: sleepCtx,
	}
}

// DeclaredSchema implements stage.DeclaredSchema: known from the config when schema is declared.
func (c *Consumer) DeclaredSchema() (*arrow.Schema, bool, error) {
	return c.declared, c.declared != nil, nil
}

// Schema is the declared schema, or the one inferred from the first infer_pages pages of the first partition
// of the run instance planned last (of yesterday, UTC, when none was planned yet). The inferred schema is kept
// for the consumer's life, so every batch has it.
func (c *Consumer) Schema(ctx context.Context) (*arrow.Schema, error) {
	if c.declared != nil {
		return c.declared, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inferred != nil {
		return c.inferred, nil
	}
	c.runMu.Lock()
	run := c.lastRun
	c.runMu.Unlock()
	if run.Label == "" {
		day := time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
		run = stage.RunInstance{Start: day, End: day.Add(24 * time.Hour), Label: day.Format(time.DateOnly)}
	}
	parts, err := c.Partitions(ctx, run)
	if err != nil {
		return nil, err
	}
	in := newInferrer()
	req, err := c.render(parts[0], nil)
	if err != nil {
		return nil, err
	}
	err = c.pages(ctx, parts[0], &c.main, req, c.cfg.InferPages, in, func(int, [][]byte) error { return nil })
	if err != nil {
		return nil, fmt.Errorf("httpapi: inferring the schema from partition %q: %w", parts[0].Key, err)
	}
	if in.root.NumFields() == 0 {
		return nil, fmt.Errorf("httpapi: cannot infer a schema: the first %d page(s) of partition %q held no records with fields; declare schema: in the config", c.cfg.InferPages, parts[0].Key)
	}
	fields := in.root.ArrowFields()
	for _, pf := range c.parents {
		if in.root.Has(pf.Name) {
			return nil, fmt.Errorf("httpapi: parent field %q has the name of a field of the records; rename it", pf.Name)
		}
	}
	if in.root.Has(c.cfg.ExtraColumn) && c.cfg.SchemaEvolution == evolveExtra {
		return nil, fmt.Errorf("httpapi: the records have a field %q, the name of extra_column; choose another extra_column", c.cfg.ExtraColumn)
	}
	c.inferred = arrow.NewSchema(append(append(fields, c.extraFields()...), c.parents...), nil)
	return c.inferred, nil
}

// Partitions cuts run into windows of partition.every, or one partition per id, or one partition.
func (c *Consumer) Partitions(_ context.Context, run stage.RunInstance) ([]stage.Partition, error) {
	pc := c.cfg.Partition
	var parts []stage.Partition
	switch {
	case len(pc.IDs) > 0:
		for i, id := range pc.IDs {
			parts = append(parts, stage.Partition{Key: "id=" + id, Index: i, Lo: id, Hi: id, Run: run})
		}
	case pc.Every > 0:
		if run.End.IsZero() {
			return nil, errors.New("httpapi: partition.every needs a bounded run instance (it has no end)")
		}
		from := run.Start.UTC()
		if c.cfg.Incremental != nil {
			var err error
			if from, err = c.windowsFrom(run); err != nil {
				return nil, err
			}
			if !from.Before(run.End) {
				c.log.Info("httpapi: nothing to read: the watermark is at or past the end of the run instance",
					"watermark", from.Format(time.RFC3339Nano), "run", run.Label)
			}
		}
		var err error
		if parts, err = windows(run, from, pc.Every.D()); err != nil {
			return nil, err
		}
	case c.cfg.Incremental != nil:
		lower := c.lowerBound()
		parts = []stage.Partition{{Key: "since[" + lower + "]", Lo: lower, Hi: "", Run: run}}
	default:
		parts = []stage.Partition{{Key: "all", Lo: run.Start.UTC(), Hi: run.End.UTC(), Run: run}}
	}
	c.runMu.Lock()
	c.lastRun = run
	c.runMu.Unlock()
	return parts, nil
}

// render builds the first request of a partition, or with parent, the first child request of a parent record.
func (c *Consumer) render(p stage.Partition, parent map[string]string) (*request, error) {
	td := TemplateData{Pipeline: c.pipeline, RunInstance: Time{p.Run.Start}, RunLabel: p.Run.Label,
		Partition: TemplatePartition{Key: p.Key, Lo: tmplValue(p.Lo), Hi: tmplValue(p.Hi)}, Parent: parent}
	ep, at, method := &c.main, "", c.cfg.Method
	if parent != nil {
		ep, at, method = c.child, "fanout.", http.MethodGet
	}
	var buf bytes.Buffer
	exec := func(path string, t *template.Template) (string, error) {
		buf.Reset()
		if err := t.Execute(&buf, td); err != nil {
			return "", stage.FieldErrorf(path, "%v (templates see .Pipeline, .RunInstance, .RunLabel, .Partition.Key, .Partition.Lo, .Partition.Hi, and in fanout .Parent)", err)
		}
		return buf.String(), nil
	}
	raw, err := exec(at+"url", ep.tmpl.url)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, stage.FieldErrorf(at+"url", "%q is not an absolute http(s) URL", redactURL(raw, c.redactNames()))
	}
	q := u.Query()
	for _, k := range sortedKeys(ep.tmpl.params) {
		v, err := exec(at+"params."+k, ep.tmpl.params[k])
		if err != nil {
			return nil, err
		}
		q.Set(k, v)
	}
	if parent != nil {
		u.RawQuery = q.Encode()
		r := &request{method: method, url: u, header: http.Header{}, page: 1}
		for k, t := range ep.tmpl.headers {
			v, err := exec("headers."+k, t)
			if err != nil {
				return nil, err
			}
			r.header.Set(k, v)
		}
		return r, nil
	}
	pc := c.cfg.Partition
	if lo, ok := p.Lo.(time.Time); ok && pc.Every > 0 {
		hi, _ := p.Hi.(time.Time)
		if pc.SinceParam != "" {
			q.Set(pc.SinceParam, formatTime(lo, pc.TimeFormat))
		}
		if pc.UntilParam != "" {
			q.Set(pc.UntilParam, formatTime(hi, pc.TimeFormat))
		}
	}
	if id, ok := p.Lo.(string); ok && pc.IDParam != "" {
		q.Set(pc.IDParam, id)
	}
	if inc := c.cfg.Incremental; inc != nil {
		if lower, _ := p.Lo.(string); lower != "" {
			q.Set(inc.Param, lower)
		}
	}
	u.RawQuery = q.Encode()
	r := &request{method: method, url: u, header: http.Header{}, page: 1}
	for k, t := range ep.tmpl.headers {
		v, err := exec("headers."+k, t)
		if err != nil {
			return nil, err
		}
		r.header.Set(k, v)
	}
	if ep.tmpl.body != nil {
		b, err := exec("body", ep.tmpl.body)
		if err != nil {
			return nil, err
		}
		r.body = []byte(b)
		r.header.Set("Content-Type", "application/json")
	}
	return r, nil
}

func (c *Consumer) redactNames() map[string]bool {
	if c.client != nil {
		return c.client.redact
	}
	return nil
}

func tmplValue(v any) any {
	if t, ok := v.(time.Time); ok {
		return Time{t}
	}
	return v
}

func formatTime(t time.Time, layout string) string {
	if layout == "unix" {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return t.UTC().Format(layout)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func paginatorFor(pg Pagination) paginator {
	switch pg.Type {
	case "page":
		return &pageNumber{param: pg.PageParam, limitParam: pg.LimitParam, firstPage: pg.FirstPage, limit: pg.Limit}
	case "offset":
		return &offsetLimit{param: pg.OffsetParam, limitParam: pg.LimitParam, limit: pg.Limit}
	case "cursor":
		return &bodyCursor{param: pg.CursorParam}
	case "next_url":
		return &nextLink{}
	case "link_header":
		return &nextLink{fromHeader: true}
	}
	return single{}
}

// pages reads up to maxPages pages (0: all) of endpoint ep from its first request req, feeding records to sink;
// afterPage runs after each page with the page's record count and parent_fields values, between pages, where
// batches may be cut. p names the partition in errors.
func (c *Consumer) pages(ctx context.Context, p stage.Partition, ep *endpoint, req *request, maxPages int, sink recordSink, afterPage func(records int, parents [][]byte) error) error {
	pager := paginatorFor(ep.pg)
	pager.first(req.url)
	w, _ := ep.walkers.Get().(*walker)
	if w == nil {
		w = newWalker(ep.records, ep.captures, ep.parentPaths)
	}
	defer func() {
		w.sc.r = nil // not the response body past its request
		ep.walkers.Put(w)
	}()
	var total, read int64
	for n := 1; ; n++ {
		req.page = n
		if err := ctx.Err(); err != nil {
			return err
		}
		var pg page
		var parents [][]byte
		err := c.client.do(ctx, req, func(resp *http.Response, body io.Reader) error {
			res, err := w.walk(body, sink)
			if err != nil {
				return bodyError(resp, err)
			}
			if !res.foundRecord && n == 1 && ep.records != "" {
				return fmt.Errorf("the response has no records at %q; check %srecords:", ep.records, ep.prefix)
			}
			parents = res.raw
			pg = page{records: res.records, cursor: res.captures[0], nextURL: res.captures[1], header: resp.Header, url: req.url}
			if tp := res.captures[2]; tp != "" {
				t, err := strconv.ParseInt(tp, 10, 64)
				if err != nil {
					return fmt.Errorf("total at %q is %q, not a whole number", ep.pg.TotalPath, tp)
				}
				total = t
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := afterPage(pg.records, parents); err != nil {
			return err
		}
		read += int64(pg.records)
		if maxPages > 0 && n >= maxPages {
			return nil
		}
		if ep.pg.TotalPath != "" && total > 0 && read >= total {
			return nil
		}
		more, err := pager.next(pg, req.url)
		if err != nil {
			return fmt.Errorf("%s: %w", c.client.what(req), err)
		}
		if !more {
			return nil
		}
		if ep.pg.MaxPages > 0 && n >= ep.pg.MaxPages {
			return fmt.Errorf("%s: partition %q has more than max_pages (%d) pages; raise %spagination.max_pages or cut smaller partitions",
				c.client.what(req), p.Key, ep.pg.MaxPages, ep.prefix)
		}
	}
}

// bodyError explains a body that could not be read as JSON.
func bodyError(resp *http.Response, err error) error {
	ct := resp.Header.Get("Content-Type")
	switch {
	case errors.Is(err, errTooLarge):
		return fmt.Errorf("%w; raise max_response_size or ask for smaller pages", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the body ends in the middle of its JSON (truncated): %w", err)
	}
	var se *syntaxError
	if !errors.As(err, &se) {
		return err // valid JSON of an unexpected shape; the error says what
	}
	if ct != "" && !strings.Contains(ct, "json") {
		return fmt.Errorf("the body is not JSON (Content-Type %s): %w", ct, err)
	}
	return fmt.Errorf("malformed JSON body: %w", err)
}

// Read reads the partition's pages in order and emits batches of at least batch_rows rows, cut between pages.
func (c *Consumer) Read(ctx context.Context, p stage.Partition, out func(arrow.RecordBatch) error) error {
	schema, err := c.Schema(ctx)
	if err != nil {
		return err
	}
	bb := newBatchBuilder(c.alloc, schema, len(c.parents), c.cfg.SchemaEvolution)
	defer bb.release()
	defer c.logDropped(p, bb.root.evo)
	var mark *watermark
	if inc := c.cfg.Incremental; inc != nil && inc.Field != "" {
		if mark, err = newWatermark(schema, inc.Field); err != nil {
			return fmt.Errorf("httpapi: incremental.field: %w", err)
		}
	}
	var outErr error // the receiver's error goes back as is, as the Consumer contract asks
	emit := func() error {
		rec := bb.batch()
		defer rec.Release()
		if mark != nil {
			mark.observe(rec)
		}
		outErr = out(rec)
		return outErr
	}
	afterPage := func(n int, parents [][]byte) error {
		if err := bb.appendParents(n, parents); err != nil {
			return err
		}
		if bb.rows >= c.cfg.BatchRows {
			return emit()
		}
		return nil
	}
	req, err := c.render(p, nil)
	if err == nil && c.child == nil {
		err = c.pages(ctx, p, &c.main, req, 0, bb, afterPage)
	} else if err == nil {
		// Fan-out: after each page of parents, read every parent's children, in order.
		ps := &parentSink{carry: carryFields(c.cfg.Fanout)}
		err = c.pages(ctx, p, &c.main, req, 0, ps, func(int, [][]byte) error {
			defer func() { ps.recs = ps.recs[:0] }()
			for _, pr := range ps.recs {
				creq, err := c.render(p, pr.scalars)
				if err != nil {
					return err
				}
				err = c.pages(ctx, p, c.child, creq, 0, bb, func(n int, _ [][]byte) error { return afterPage(n, pr.carry) })
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if outErr != nil {
		return outErr
	}
	if err != nil {
		return fmt.Errorf("httpapi: partition %q: %w", p.Key, err)
	}
	if bb.rows > 0 {
		if err := emit(); err != nil {
			return err
		}
	}
	if mark != nil && mark.found {
		c.wmMu.Lock()
		if c.advanced == nil {
			c.advanced = map[string]string{}
		}
		c.advanced[p.Key] = mark.text()
		c.wmMu.Unlock()
	}
	return nil
}

// extraFields is the extra column when schema_evolution is extra_column (none otherwise).
func (c *Consumer) extraFields() []arrow.Field {
	if c.cfg.SchemaEvolution != evolveExtra {
		return nil
	}
	return []arrow.Field{{Name: c.cfg.ExtraColumn, Type: arrow.BinaryTypes.String, Nullable: true}}
}

// logDropped says which fields schema_evolution: ignore dropped from the partition's records, so that a field
// the API added is noticed, never lost in silence.
func (c *Consumer) logDropped(p stage.Partition, evo *evolution) {
	if evo == nil || len(evo.dropped) == 0 {
		return
	}
	names := make([]string, 0, len(evo.dropped))
	for name := range evo.dropped {
		names = append(names, name)
	}
	slices.Sort(names)
	var sb strings.Builder
	for i, name := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s (%d records)", name, *evo.dropped[name])
	}
	c.log.Warn("httpapi: record fields not in the schema were dropped (schema_evolution: ignore); declare them under schema, or set schema_evolution: extra_column to keep them",
		"partition", p.Key, "fields", sb.String())
}

// windows cuts [from, run.End) into windows of step on the grid run.Start + k·step: the first window runs from
// `from` to the next grid line, so an incremental run resuming mid-window lines up with the grid after it.
func windows(run stage.RunInstance, from time.Time, step time.Duration) ([]stage.Partition, error) {
	end := run.End.UTC()
	if !from.Before(end) {
		return nil, nil
	}
	// The grid line at or before from (floor division, from may lie before run.Start).
	d := from.Sub(run.Start)
	k := d / step
	if d%step < 0 {
		k--
	}
	if n := (end.Sub(from) + step - 1) / step; n > maxWindows {
		return nil, fmt.Errorf("httpapi: reading from %s to %s in windows of %s makes %d partitions, over %d; raise partition.every or move incremental.initial later",
			from.Format(time.RFC3339Nano), end.Format(time.RFC3339), step, n, maxWindows)
	}
	var parts []stage.Partition
	lo := from.UTC()
	for hi, i := run.Start.Add((k+1)*step).UTC(), 0; lo.Before(end); hi, i = hi.Add(step), i+1 {
		if hi.After(end) {
			hi = end
		}
		parts = append(parts, stage.Partition{
			Key:   "window[" + lo.Format(time.RFC3339Nano) + "," + hi.Format(time.RFC3339Nano) + ")",
			Index: i, Lo: lo, Hi: hi, Run: run,
		})
		lo = hi
	}
	return parts, nil
}

// maxWindows bounds the partitions one plan may have, so a far-away incremental.initial is an error, not a plan
// of millions of partitions.
const maxWindows = 100_000

// parseWindowBound reads incremental.initial, or a stored watermark, of a windowed read.
func parseWindowBound(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-01T00:00:00Z) nor a date (2026-01-01)", s)
}

// windowsFrom is where an incremental windowed read starts: the stored watermark (the end of the last window
// read), else incremental.initial, else the run instance's start.
func (c *Consumer) windowsFrom(run stage.RunInstance) (time.Time, error) {
	c.wmMu.Lock()
	stored, ok := c.resume, c.resumed
	c.wmMu.Unlock()
	if ok {
		t, err := parseWindowBound(stored)
		if err != nil {
			return time.Time{}, fmt.Errorf("httpapi: the stored watermark %s; reset it with `jetflow state reset`", err)
		}
		return t, nil
	}
	if init := c.cfg.Incremental.Initial; init != "" {
		return parseWindowBound(init)
	}
	return run.Start.UTC(), nil
}
