// Package restcatalog serves the Iceberg REST catalog protocol for tests, over iceberg-go's SQL catalog on a
// SQLite file. No third-party REST catalog server installs on this project's machines (see the Iceberg loader's
// README, Limits), so this one stands in for R2 Data Catalog, Polaris or Lakekeeper: the REST client and its
// wire format are iceberg-go's own, and every table change goes through the SQL catalog's CommitTable, which
// checks the commit's requirements (the table's current snapshot, its UUID, "assert create") against the stored
// metadata and swaps the metadata location atomically. A commit that loses a race is answered 409, as the REST
// specification says, so clients see what a real catalog tells them.
//
// The server checks what clients send: a bearer token (or client credentials exchanged at /v1/oauth/tokens)
// and required headers; Requests lists what it received, without credentials.
package restcatalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // the catalog's database
)

// Options are what the server demands of clients.
type Options struct {
	// Token, when set, is the bearer token every request but the token exchange must carry.
	Token string
	// ClientID and ClientSecret, when set, are the OAuth2 client credentials /v1/oauth/tokens exchanges for
	// Token (which must then be set too).
	ClientID, ClientSecret string
	// Headers must be present, with these values, on every request.
	Headers map[string]string
}

// Server is a running REST catalog.
type Server struct {
	URL       string // base URL, for a client's uri
	Warehouse string // where tables are created, a local directory

	opts Options
	cat  *sqlcat.Catalog
	db   *sql.DB

	mu       sync.Mutex
	requests []string
	commits  int // commits answered 200
	refused  int // commits answered 409
}

// Start runs a catalog whose tables live under dir/warehouse, until the test ends.
func Start(t testing.TB, dir string, opts Options) *Server {
	t.Helper()
	s, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	s.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return s
}

// New opens the catalog under dir; serve it with any http.Server.
func New(dir string, opts Options) (*Server, error) {
	wh := filepath.Join(dir, "warehouse")
	if err := os.MkdirAll(wh, 0o755); err != nil {
		return nil, fmt.Errorf("restcatalog: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "rest-catalog.db")+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("restcatalog: open the database: %w", err)
	}
	cat, err := sqlcat.NewCatalog("rest", db, sqlcat.SQLite, iceberg.Properties{"warehouse": "file://" + wh})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("restcatalog: open the sql catalog: %w", err)
	}
	return &Server{Warehouse: wh, opts: opts, cat: cat, db: db}, nil
}

// Close closes the catalog's database.
func (s *Server) Close() error { return s.db.Close() }

// Requests returns "METHOD /path" of every request so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Commits returns how many table commits succeeded and how many were refused with 409.
func (s *Server) Commits() (ok, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits, s.refused
}

// errorBody is the REST specification's ErrorModel.
type errorBody struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

func fail(w http.ResponseWriter, code int, typ string, err error) {
	var b errorBody
	b.Error.Message, b.Error.Type, b.Error.Code = err.Error(), typ, code
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(b)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	for k, v := range s.opts.Headers {
		if r.Header.Get(k) != v {
			fail(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("header %s must be %q", k, v))
			return
		}
	}
	segs, err := segments(r.URL)
	if err != nil || len(segs) == 0 || segs[0] != "v1" {
		fail(w, http.StatusNotFound, "NotFoundException", fmt.Errorf("no route %s", r.URL.Path))
		return
	}
	segs = segs[1:]
	if r.Method == http.MethodPost && len(segs) == 2 && segs[0] == "oauth" && segs[1] == "tokens" {
		s.token(w, r)
		return
	}
	if s.opts.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		fail(w, http.StatusUnauthorized, "NotAuthorizedException", errors.New("missing or wrong bearer token"))
		return
	}
	ctx := r.Context()
	switch {
	case len(segs) == 1 && segs[0] == "config" && r.Method == http.MethodGet:
		reply(w, map[string]any{"defaults": map[string]string{}, "overrides": map[string]string{}})
	case len(segs) == 1 && segs[0] == "namespaces" && r.Method == http.MethodPost:
		s.createNamespace(ctx, w, r)
	case len(segs) == 2 && segs[0] == "namespaces":
		s.namespace(ctx, w, r, namespace(segs[1]))
	case len(segs) == 3 && segs[0] == "namespaces" && segs[2] == "tables" && r.Method == http.MethodPost:
		s.createTable(ctx, w, r, namespace(segs[1]))
	case len(segs) == 4 && segs[0] == "namespaces" && segs[2] == "tables":
		s.table(ctx, w, r, append(namespace(segs[1]), segs[3]))
	default:
		fail(w, http.StatusNotFound, "NotFoundException", fmt.Errorf("no route %s %s", r.Method, r.URL.Path))
	}
}

// segments splits the escaped path and unescapes each segment, so an escaped "/" or unit separator inside a
// name stays inside it.
func segments(u *url.URL) ([]string, error) {
	var out []string
	for _, p := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
		seg, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		out = append(out, seg)
	}
	return out, nil
}

// namespace splits a path's namespace at the unit separator (0x1F), the REST specification's level separator.
func namespace(seg string) table.Identifier { return strings.Split(seg, "\x1f") }

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "invalid_request", err)
		return
	}
	if s.opts.ClientID == "" || r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_id") != s.opts.ClientID || r.PostForm.Get("client_secret") != s.opts.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "unknown client credentials"})
		return
	}
	reply(w, map[string]any{"access_token": s.opts.Token, "token_type": "bearer", "expires_in": 3600,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

func (s *Server) createNamespace(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	var req struct {
		Namespace  []string           `json:"namespace"`
		Properties iceberg.Properties `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "BadRequestException", err)
		return
	}
	if err := s.cat.CreateNamespace(ctx, req.Namespace, req.Properties); err != nil {
		s.catalogError(w, err)
		return
	}
	reply(w, map[string]any{"namespace": req.Namespace, "properties": req.Properties})
}

func (s *Server) namespace(ctx context.Context, w http.ResponseWriter, r *http.Request, ns table.Identifier) {
	props, err := s.cat.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		s.catalogError(w, err)
		return
	}
	switch r.Method {
	case http.MethodHead:
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		reply(w, map[string]any{"namespace": ns, "properties": props})
	default:
		fail(w, http.StatusMethodNotAllowed, "BadRequestException", fmt.Errorf("%s on a namespace", r.Method))
	}
}

func (s *Server) createTable(ctx context.Context, w http.ResponseWriter, r *http.Request, ns table.Identifier) {
	var req struct {
		Name          string                 `json:"name"`
		Schema        *iceberg.Schema        `json:"schema"`
		Location      string                 `json:"location"`
		PartitionSpec *iceberg.PartitionSpec `json:"partition-spec"`
		WriteOrder    *table.SortOrder       `json:"write-order"`
		StageCreate   bool                   `json:"stage-create"`
		Properties    iceberg.Properties     `json:"properties"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("create table request: %w", err))
		return
	}
	if req.StageCreate {
		fail(w, http.StatusNotAcceptable, "UnsupportedOperationException", errors.New("staged creates are not supported"))
		return
	}
	if req.Schema == nil || req.Name == "" {
		fail(w, http.StatusBadRequest, "BadRequestException", errors.New("a table needs a name and a schema"))
		return
	}
	var opts []catalog.CreateTableOpt
	if req.PartitionSpec != nil {
		opts = append(opts, catalog.WithPartitionSpec(req.PartitionSpec))
	}
	if req.WriteOrder != nil {
		opts = append(opts, catalog.WithSortOrder(*req.WriteOrder))
	}
	if req.Location != "" {
		opts = append(opts, catalog.WithLocation(req.Location))
	}
	if len(req.Properties) > 0 {
		opts = append(opts, catalog.WithProperties(req.Properties))
	}
	tbl, err := s.cat.CreateTable(ctx, append(ns, req.Name), req.Schema, opts...)
	if err != nil {
		s.catalogError(w, err)
		return
	}
	reply(w, map[string]any{"metadata-location": tbl.MetadataLocation(), "metadata": tbl.Metadata(), "config": map[string]string{}})
}

func (s *Server) table(ctx context.Context, w http.ResponseWriter, r *http.Request, ident table.Identifier) {
	switch r.Method {
	case http.MethodHead, http.MethodGet:
		tbl, err := s.cat.LoadTable(ctx, ident)
		if err != nil {
			s.catalogError(w, err)
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		reply(w, map[string]any{"metadata-location": tbl.MetadataLocation(), "metadata": tbl.Metadata(), "config": map[string]string{}})
	case http.MethodPost:
		var req struct {
			Requirements table.Requirements `json:"requirements"`
			Updates      table.Updates      `json:"updates"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, "BadRequestException", fmt.Errorf("commit request: %w", err))
			return
		}
		md, loc, err := s.cat.CommitTable(ctx, ident, req.Requirements, req.Updates)
		if err != nil {
			s.catalogError(w, err)
			return
		}
		s.mu.Lock()
		s.commits++
		s.mu.Unlock()
		reply(w, map[string]any{"metadata-location": loc, "metadata": md})
	default:
		fail(w, http.StatusMethodNotAllowed, "BadRequestException", fmt.Errorf("%s on a table", r.Method))
	}
}

// catalogError answers with the status the REST specification gives the SQL catalog's error.
func (s *Server) catalogError(w http.ResponseWriter, err error) {
	msg := err.Error()
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable):
		fail(w, http.StatusNotFound, "NoSuchTableException", err)
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		fail(w, http.StatusNotFound, "NoSuchNamespaceException", err)
	case errors.Is(err, catalog.ErrNamespaceAlreadyExists):
		fail(w, http.StatusConflict, "AlreadyExistsException", err)
	case errors.Is(err, catalog.ErrTableAlreadyExists):
		fail(w, http.StatusConflict, "AlreadyExistsException", err)
	case errors.Is(err, table.ErrCommitFailed), strings.Contains(msg, "requirement failed"),
		strings.Contains(msg, "database is locked"), strings.Contains(msg, "SQLITE_BUSY"):
		// Nothing was committed: the client reloads and tries again.
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		fail(w, http.StatusConflict, "CommitFailedException", err)
	default:
		fail(w, http.StatusInternalServerError, "ServerError", err)
	}
}
