package ui

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
)

// TokenCookie is the cookie that carries the auth token once a browser opened the site with ?token=.
const TokenCookie = "jetflow_ui_token"

// ServeOptions secure the handler.
type ServeOptions struct {
	// Token, when set, is required with every request: Authorization: Bearer TOKEN, or the cookie that
	// ?token=TOKEN sets.
	Token string
	// LoopbackOnly accepts only requests whose Host is a loopback name or address: with no token, a site bound
	// to 127.0.0.1 is not readable by a web page that rebinds its own DNS name to 127.0.0.1.
	LoopbackOnly bool
}

// Handler serves the pages. It answers GET and HEAD only (405 otherwise): the site changes nothing.
func (s *Site) Handler(o ServeOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "jetflow ui is read-only: only GET and HEAD are allowed", http.StatusMethodNotAllowed)
			return
		}
		if o.LoopbackOnly && !loopbackHost(r.Host) {
			http.Error(w, "jetflow ui answers on a loopback address only (127.0.0.1, localhost, [::1])", http.StatusForbidden)
			return
		}
		if o.Token != "" && !authorized(w, r, o.Token) {
			return
		}
		s.route(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authorized checks the token of a request; ?token= sets the cookie and redirects to the same page without it,
// so the token leaves the address bar and the history.
func authorized(w http.ResponseWriter, r *http.Request, token string) bool {
	same := func(got string) bool { return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 }
	if q := r.URL.Query(); q.Has("token") {
		if same(q.Get("token")) {
			http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return false
		}
	} else if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && same(bearer) {
		return true
	} else if c, err := r.Cookie(TokenCookie); err == nil && same(c.Value) {
		return true
	}
	http.Error(w, "jetflow ui needs its token: open this address with ?token=TOKEN once (TOKEN is the server's JETFLOW_UI_TOKEN), or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
	return false
}

// route serves a page: /, /live/, /p/NAME/, /p/NAME/r/RUN/, their index.html, RUN's report.json and /static/.
func (s *Site) route(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var segs []string
	for _, seg := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		v, err := url.PathUnescape(seg)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		segs = append(segs, v)
	}
	if n := len(segs); n > 0 && segs[n-1] == "index.html" {
		segs = segs[:n-1]
	}
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	switch {
	case len(segs) == 0:
		s.serve(w, r, "overview.html", s.overview(ctx, s.loadFolder(ctx), false))
	case len(segs) == 1 && segs[0] == "live":
		s.serve(w, r, "live.html", s.livePage(ctx, s.loadFolder(ctx), false))
	case len(segs) == 2 && segs[0] == "static":
		b, err := assetFS.ReadFile("assets/" + path.Base(segs[1]))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(segs[1])))
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(b)
	case segs[0] == "p" && (len(segs) == 2 || len(segs) == 4 && segs[2] == "r" || len(segs) == 5 && segs[2] == "r" && segs[4] == "report.json"):
		f := s.loadFolder(ctx)
		pi := f.byName[segs[1]]
		if pi == nil {
			s.notFound(w, "no pipeline is named "+segs[1]+" in this folder")
			return
		}
		if len(segs) == 2 {
			s.serve(w, r, "pipeline.html", s.pipelinePage(ctx, pi, false))
			return
		}
		d, ok := s.runPage(ctx, pi, segs[3], false)
		if !ok {
			s.notFound(w, "pipeline "+pi.Name+" has no run instance "+segs[3]+" in its state store")
			return
		}
		if len(segs) == 5 {
			if d.Report == nil {
				s.notFound(w, "no report of "+pi.Name+" run "+segs[3]+" under the report folder")
				return
			}
			b, err := os.ReadFile(d.Report.Path)
			if err != nil {
				http.Error(w, "read the report: "+s.red.Redact(err.Error()), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(s.red.Redact(string(b))))
			return
		}
		s.serve(w, r, "run.html", d)
	default:
		http.NotFound(w, r)
	}
}

func (s *Site) notFound(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(msg + "\n"))
}

func (s *Site) serve(w http.ResponseWriter, r *http.Request, tmpl string, data any) {
	b, err := s.render(tmpl, data)
	if err != nil {
		http.Error(w, "render the page: "+s.red.Redact(err.Error()), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}
