package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jetflow-dev/jetflow/stage"
	"github.com/jetflow-dev/jetflow/ui"
)

// uiTokenEnv is where jetflow ui reads its auth token from when --auth-token is not given.
const uiTokenEnv = "JETFLOW_UI_TOKEN"

// cmdUI is `jetflow ui DIR`: read-only web pages of a folder's pipelines and their state, served or written.
func cmdUI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ui", "ui DIR [--addr HOST:PORT] [--report-dir DIR] [--static OUT]", `  jetflow ui pipelines/                                   # http://127.0.0.1:8080/
  jetflow ui pipelines/ --report-dir reports/             # with the per-stage stats of jetflow run --report-dir
  JETFLOW_UI_TOKEN=$(openssl rand -hex 16) jetflow ui pipelines/ --addr 0.0.0.0:8080
  jetflow ui pipelines/ --static site/                    # the same pages as files, e.g. a CI artifact
`, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve on; an address other than loopback needs an auth token")
	token := fs.String("auth-token", "", "token every request must carry (default: $"+uiTokenEnv+"; prefer the variable: a command line is visible to\nevery user of the machine)")
	reportDir := fs.String("report-dir", "", "folder of run reports (jetflow run --report-dir, --report) the pages show per-stage stats from")
	statePath := fs.String("state", "", "SQLite state file of every pipeline (default: each pipeline's state.path); ignored with state.type postgres")
	static := fs.String("static", "", "write the pages as static files under `DIR` and exit, instead of serving them")
	dir, err := oneFolder(fs, args)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv(uiTokenEnv)
	}
	red := redactorOf(stderr)
	if red == nil {
		red = stage.NewRedactor()
	}
	red.Add(*token)
	site, err := ui.New(ui.Options{Dir: dir, ReportDir: *reportDir, StatePath: *statePath, Redactor: red})
	if err != nil {
		return withCode(exitError, err)
	}
	defer site.Close()
	if *static != "" {
		n, err := site.WriteStatic(ctx, *static)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--static %s: %w", *static, err))
		}
		fmt.Fprintf(stdout, "wrote %d page(s) to %s; open %s\n", n, *static, *static+"/index.html")
		return nil
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return withCode(exitInvalid, fmt.Errorf("--addr %q: want HOST:PORT, such as 127.0.0.1:8080", *addr))
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		loopback = true
	}
	if !loopback && *token == "" {
		return withCode(exitInvalid, fmt.Errorf("--addr %s is reachable from other machines: set %s to a random token (such as $(openssl rand -hex 16)), which every request must then carry", *addr, uiTokenEnv))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--addr %s: %w", *addr, err))
	}
	srv := &http.Server{
		Handler:           site.Handler(ui.ServeOptions{Token: *token, LoopbackOnly: loopback && *token == ""}),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      5 * time.Minute,
	}
	fmt.Fprintf(stdout, "jetflow ui: serving %s on http://%s/ (read-only; Ctrl-C stops)\n", dir, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return withCode(exitError, err)
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		return nil
	}
}
