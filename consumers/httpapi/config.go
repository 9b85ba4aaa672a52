package httpapi

import "github.com/jetflow-dev/jetflow/stage"

// Config is the `httpapi` consumer's YAML config. Its tags are the only declaration of its defaults and limits:
// New and the pipeline loader both apply them (stage.Complete), so a config built in Go behaves as one from YAML.
type Config struct {
	URL     string            `yaml:"url" required:"true" doc:"Endpoint, a Go template over .Partition.Lo, .Partition.Hi, .Partition.Key, .RunInstance (the run's start, a time), .RunLabel and .Pipeline. Times print as RFC 3339; 'date' formats them ({{ .Partition.Lo | date \"2006-01-02\" }}) and 'unix' gives epoch seconds."`
	Method  string            `yaml:"method" default:"GET" enum:"GET,POST,PUT,PATCH" doc:"HTTP method."`
	Headers map[string]string `yaml:"headers" doc:"Request headers; values are templates like url."`
	Params  map[string]string `yaml:"params" doc:"Query parameters added to url; values are templates like url, escaped for you."`
	Body    string            `yaml:"body" doc:"JSON request body, a template like url; sent with Content-Type: application/json."`
	Auth    Auth              `yaml:"auth" doc:"How requests authenticate. Secrets come from the environment (${VAR}) and never appear in logs or errors."`

	Records string   `yaml:"records" doc:"Dotted path through objects to the array of records in each response (data.items); empty when the body is the array itself."`
	Schema  []Column `yaml:"schema" doc:"Columns to read, in order. Without it the schema is inferred from the first infer_pages pages of the first partition: int widens to float, numbers and booleans mixed with other kinds become string, objects become structs, arrays lists, fields seen only as null become string. Fields that first appear after inference follow schema_evolution; a later value that does not fit its inferred type fails the partition with the field's name."`
	// SchemaEvolution decides what happens to record fields the schema does not have.
	SchemaEvolution string        `yaml:"schema_evolution" default:"ignore" enum:"ignore,fail,extra_column" doc:"What happens to a top-level record field that is not in the schema (not declared, or first seen after inference): ignore drops it and logs, once per partition, each dropped field with the number of records that had it; fail fails the partition, naming the field and the page; extra_column keeps all such fields of a record as one JSON object in the string column extra_column (null when there are none), so nothing is lost and a later run can declare them. The schema of a run never changes mid-run; an inferred schema picks up new fields on the next run that sees them in its first pages."`
	ExtraColumn     string        `yaml:"extra_column" default:"_extra" doc:"schema_evolution: extra_column: the name of the string column that collects the fields not in the schema; it comes after the record's columns and before parent fields."`
	ParentFields    []ParentField `yaml:"parent_fields" doc:"Values from outside the records (the response's envelope, such as data.account_id) added as columns to every record of the page, after the record's columns."`
	// InferPages is how many pages inference reads.
	InferPages int `yaml:"infer_pages" default:"1" min:"1" doc:"Pages read to infer the schema when schema is not declared."`

	Pagination Pagination      `yaml:"pagination" doc:"How the pages of one partition follow each other."`
	Partition  PartitionConfig `yaml:"partition" doc:"How a run instance is cut into partitions: date windows or a list of ids. Default: one partition per run instance."`
	Fanout     *Fanout         `yaml:"fanout" doc:"For each record of the responses (a parent), fetch its children from a second endpoint; the children are the rows, with chosen parent fields carried down. The top-level schema and parent_fields do not apply then."`
	// Incremental reads only what changed since the last committed partition.
	Incremental *Incremental `yaml:"incremental" doc:"Read only what changed since the previous run, resuming from a watermark kept in the state store (at full precision). Alone: the greatest value of field in the committed records, sent as param on the next run. With partition.every: the end of the last window read; the next run's windows start there and reach the end of its run instance, so missed runs are caught up and no window is read twice. Not combined with partition.ids or fanout."`

	RateLimit       float64        `yaml:"rate_limit" min:"0" doc:"Requests per second at most, across every partition read by this process (0: no limit)."`
	Concurrency     int            `yaml:"concurrency" default:"4" min:"1" doc:"Requests in flight at once at most, across every partition read by this process."`
	Retries         int            `yaml:"retries" default:"5" min:"0" doc:"Retries of a request after a connection error, a timeout, a 5xx, or a 429 (0: none). A body that breaks off half-way fails the partition, which the engine re-reads whole."`
	Backoff         stage.Duration `yaml:"backoff" default:"500ms" min:"0s" doc:"First retry delay; it doubles with each retry, with jitter, up to max_backoff. A Retry-After header on 429 or 503 takes precedence."`
	MaxBackoff      stage.Duration `yaml:"max_backoff" default:"30s" min:"0s" doc:"Longest delay between two retries (Retry-After excepted, up to 15 minutes)."`
	Timeout         stage.Duration `yaml:"timeout" default:"30s" min:"1ms" doc:"Time one request may take, body included."`
	MaxResponseSize stage.ByteSize `yaml:"max_response_size" default:"64MiB" min:"1" doc:"Largest response body accepted; a larger one fails the partition."`
	BatchRows       int            `yaml:"batch_rows" default:"65536" min:"1" doc:"Rows per Arrow batch, at least; batches are cut between pages."`
	Redact          []string       `yaml:"redact" doc:"Query parameters and headers whose values are masked in logs and errors, besides the auth secrets and Authorization."`
}

// Column declares one column of the records.
type Column struct {
	Name string `yaml:"name" required:"true" doc:"Field name in the record (and column name)."`
	Type string `yaml:"type" required:"true" doc:"Arrow type: int32, int64, float32, float64, bool, string, large_string, binary (a JSON string's bytes), date32 (from \"2006-01-02\"), timestamp[unit, zone] (from RFC 3339 text or epoch numbers in the unit), decimal(p,s), list<...>, struct<...>. A string column keeps any other JSON value as its JSON text."`
}

// Fanout is a second request per parent record, with its own records path and pagination; headers and auth
// are the parent's.
type Fanout struct {
	URL        string            `yaml:"url" required:"true" doc:"Child endpoint: a template like url that also sees .Parent.<field>, the parent record's top-level scalar fields as text ({{ .Parent.id }})."`
	Params     map[string]string `yaml:"params" doc:"Query parameters of the child request; templates like url."`
	Records    string            `yaml:"records" doc:"Dotted path to the array of children in each child response; empty when the body is the array."`
	Pagination Pagination        `yaml:"pagination" doc:"How the child pages follow each other."`
	Schema     []Column          `yaml:"schema" required:"true" doc:"The children's columns."`
	Carry      []CarryField      `yaml:"carry" doc:"Parent fields added as columns to each of its children, after the children's columns."`
}

// CarryField copies a parent record's field to its children.
type CarryField struct {
	Name  string `yaml:"name" required:"true" doc:"Column name."`
	Field string `yaml:"field" required:"true" doc:"Top-level field of the parent record."`
	Type  string `yaml:"type" default:"string" doc:"Arrow type of the column, as in schema."`
}

// ParentField carries a value of the response down to each of its records.
type ParentField struct {
	Name string `yaml:"name" required:"true" doc:"Column name."`
	Path string `yaml:"path" required:"true" doc:"Dotted path of the value in the response body, outside the records."`
	Type string `yaml:"type" default:"string" doc:"Arrow type of the column, as in schema."`
}

// Auth configures request authentication.
type Auth struct {
	Type         string       `yaml:"type" default:"none" enum:"none,bearer,basic,api_key,oauth2" doc:"Scheme: bearer (token), basic (username, password), api_key (key in header or query param name), oauth2 (client credentials at token_url, refreshed before it expires)."`
	Token        stage.Secret `yaml:"token" doc:"bearer: the token."`
	Username     string       `yaml:"username" doc:"basic: the user name."`
	Password     stage.Secret `yaml:"password" doc:"basic: the password."`
	Key          stage.Secret `yaml:"key" doc:"api_key: the key."`
	Name         string       `yaml:"name" default:"X-API-Key" doc:"api_key: the header or query parameter that carries the key."`
	In           string       `yaml:"in" default:"header" enum:"header,query" doc:"api_key: where the key goes."`
	TokenURL     string       `yaml:"token_url" doc:"oauth2: the token endpoint."`
	ClientID     string       `yaml:"client_id" doc:"oauth2: the client id."`
	ClientSecret stage.Secret `yaml:"client_secret" doc:"oauth2: the client secret (sent with HTTP Basic, as RFC 6749 asks)."`
	Scopes       []string     `yaml:"scopes" doc:"oauth2: scopes requested."`
}

// Pagination configures how the next page is requested and when a partition ends. Every strategy stops on an
// empty page; page and offset also stop on a page shorter than limit, and any strategy stops when total_path
// gives a total that the records read so far reach.
type Pagination struct {
	Type        string `yaml:"type" default:"none" enum:"none,page,offset,cursor,next_url,link_header" doc:"none (one request), page (page number), offset (offset and limit), cursor (a cursor from the body), next_url (the next URL from the body), link_header (Link: <...>; rel=\"next\")."`
	PageParam   string `yaml:"page_param" default:"page" doc:"page: the page number's query parameter."`
	FirstPage   int    `yaml:"first_page" default:"1" doc:"page: the first page's number."`
	OffsetParam string `yaml:"offset_param" default:"offset" doc:"offset: the offset's query parameter."`
	LimitParam  string `yaml:"limit_param" default:"limit" doc:"page, offset: the page size's query parameter (sent when limit is set)."`
	Limit       int    `yaml:"limit" min:"0" doc:"page, offset: records per page; a shorter page is the last. Required for offset."`
	CursorPath  string `yaml:"cursor_path" doc:"cursor: dotted path of the next cursor in the body; null, empty or absent ends the partition."`
	CursorParam string `yaml:"cursor_param" default:"cursor" doc:"cursor: the query parameter that sends it."`
	NextURLPath string `yaml:"next_url_path" doc:"next_url: dotted path of the next page's URL (absolute or relative) in the body."`
	TotalPath   string `yaml:"total_path" doc:"Dotted path of the total number of records in the body; reading stops once that many are read."`
	MaxPages    int    `yaml:"max_pages" min:"0" doc:"Pages per partition at most (0: no limit); more is an error, not a silent cut."`
}

// PartitionConfig cuts a run instance into partitions.
type PartitionConfig struct {
	Every      stage.Duration `yaml:"every" min:"0s" doc:"Cut the run instance into windows of this length; each window's bounds go to since_param and until_param."`
	SinceParam string         `yaml:"since_param" doc:"Query parameter for a window's start (inclusive)."`
	UntilParam string         `yaml:"until_param" doc:"Query parameter for a window's end (exclusive)."`
	TimeFormat string         `yaml:"time_format" default:"2006-01-02T15:04:05Z07:00" doc:"Go layout of the window bounds in since_param and until_param, or 'unix' for epoch seconds."`
	IDs        []string       `yaml:"ids" doc:"One partition per id (an account, a tenant); the url template sees it as .Partition.Lo."`
	IDParam    string         `yaml:"id_param" doc:"Query parameter that carries the id, if any."`
}

// Incremental configures a watermark kept in the state store.
type Incremental struct {
	Field   string `yaml:"field" doc:"Without partition.every (then required): top-level record field whose greatest value becomes the watermark: an int64, a timestamp or a string column (strings compare as text, so use a sortable form such as RFC 3339 in UTC). Not used with partition.every."`
	Param   string `yaml:"param" doc:"Without partition.every (then required): query parameter that receives the watermark (the lower bound of the next read), e.g. updated_since. With partition.every the windows' since_param and until_param carry the bounds."`
	Initial string `yaml:"initial" doc:"Lower bound of the first run, before any watermark is stored. Without partition.every: sent as param, and empty sends no parameter, reading everything. With partition.every: an RFC 3339 time or a date (2026-01-01) where the first run's windows start (a backfill); empty starts at the run instance."`
}
