package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// page is what a paginator sees of the page just read.
type page struct {
	records int
	cursor  string // the value at cursor_path
	nextURL string // the value at next_url_path
	header  http.Header
	url     *url.URL // the URL the page came from, to resolve relative next URLs
}

// paginator is one pagination strategy. first sets up the first request of a partition; next sets up the
// request after page and reports false when the partition has no more pages. A paginator is used by one Read.
type paginator interface {
	first(u *url.URL)
	next(p page, u *url.URL) (more bool, err error)
}

// setParam sets a query parameter of u.
func setParam(u *url.URL, name, value string) {
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
}

// single is "no pagination": one request per partition.
type single struct{}

func (single) first(*url.URL)                    {}
func (single) next(page, *url.URL) (bool, error) { return false, nil }

// pageNumber asks for page first_page, first_page+1, ... until a page is empty or shorter than limit.
type pageNumber struct {
	param, limitParam string
	firstPage, limit  int
	n                 int
}

func (p *pageNumber) first(u *url.URL) {
	p.n = p.firstPage
	setParam(u, p.param, strconv.Itoa(p.n))
	if p.limit > 0 {
		setParam(u, p.limitParam, strconv.Itoa(p.limit))
	}
}

func (p *pageNumber) next(pg page, u *url.URL) (bool, error) {
	if pg.records == 0 || p.limit > 0 && pg.records < p.limit {
		return false, nil
	}
	p.n++
	setParam(u, p.param, strconv.Itoa(p.n))
	return true, nil
}

// offsetLimit asks for records [offset, offset+limit) until a page is empty or shorter than limit.
type offsetLimit struct {
	param, limitParam string
	limit             int
	offset            int64
}

func (p *offsetLimit) first(u *url.URL) {
	p.offset = 0
	setParam(u, p.param, "0")
	setParam(u, p.limitParam, strconv.Itoa(p.limit))
}

func (p *offsetLimit) next(pg page, u *url.URL) (bool, error) {
	if pg.records == 0 || pg.records < p.limit {
		return false, nil
	}
	p.offset += int64(pg.records)
	setParam(u, p.param, strconv.FormatInt(p.offset, 10))
	return true, nil
}

// bodyCursor sends the cursor of the previous page's body until the body has none. A cursor seen before
// would loop forever, so it is an error.
type bodyCursor struct {
	param string
	seen  map[string]bool
}

func (p *bodyCursor) first(*url.URL) { p.seen = map[string]bool{} }

func (p *bodyCursor) next(pg page, u *url.URL) (bool, error) {
	if pg.cursor == "" || pg.records == 0 {
		return false, nil
	}
	if p.seen[pg.cursor] {
		return false, fmt.Errorf("the API returned cursor %q a second time; stopping rather than reading the same pages forever", pg.cursor)
	}
	p.seen[pg.cursor] = true
	setParam(u, p.param, pg.cursor)
	return true, nil
}

// nextLink follows a next-page URL, from the body (next_url_path) or from a Link header, until there is none.
// A URL seen before is an error, as with cursors.
type nextLink struct {
	fromHeader bool
	seen       map[string]bool
}

func (p *nextLink) first(u *url.URL) { p.seen = map[string]bool{u.String(): true} }

func (p *nextLink) next(pg page, u *url.URL) (bool, error) {
	raw := pg.nextURL
	if p.fromHeader {
		raw = linkNext(pg.header.Values("Link"))
	}
	if raw == "" || pg.records == 0 {
		return false, nil
	}
	ref, err := url.Parse(raw)
	if err != nil {
		return false, fmt.Errorf("the next page's URL is not a URL: %w", err)
	}
	nu := pg.url.ResolveReference(ref)
	if p.seen[nu.String()] {
		return false, fmt.Errorf("the API pointed to a page already read (%s) as the next one; stopping rather than reading the same pages forever", redactURL(nu.String(), nil))
	}
	p.seen[nu.String()] = true
	*u = *nu
	return true, nil
}

// linkNext finds the rel="next" target in Link header values (RFC 8288).
func linkNext(values []string) string {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			link = strings.TrimSpace(link)
			if !strings.HasPrefix(link, "<") {
				continue
			}
			end := strings.IndexByte(link, '>')
			if end < 0 {
				continue
			}
			target := link[1:end]
			for _, param := range strings.Split(link[end+1:], ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header on the commas between links, not those inside <...> or quotes.
func splitLinks(v string) []string {
	var out []string
	inURL, inQuote, start := false, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '<' && !inQuote:
			inURL = true
		case c == '>' && !inQuote:
			inURL = false
		case c == '"' && !inURL:
			inQuote = !inQuote
		case c == ',' && !inURL && !inQuote:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
