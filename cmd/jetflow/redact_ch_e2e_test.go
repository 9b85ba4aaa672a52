//go:build chserver

package main

import (
	"context"
	"testing"

	"github.com/jetflow-dev/jetflow/testkit/chtest"
)

// TestRedactClickHouse runs a ClickHouse pipeline whose password the server refuses: no output shows it. Run it
// with testkit/chtest/gotest-patched.sh -run TestRedactClickHouse ./cmd/jetflow/ (a ClickHouse server is needed).
func TestRedactClickHouse(t *testing.T) {
	// Its own server: this package's TestMain stops PostgreSQL's shared one, not ClickHouse's.
	ch, err := chtest.StartServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `name: chpw
consumer:
  type: clickhouse
  addr: ${CH_ADDR}
  user: ${CH_USER}
  password: ${CH_PASSWORD}
  table: system.one
loaders: [{ type: parquet, path: out }]
`)
	secret := "wrong-ch-password"
	runOutputs(t, dir, []string{"CH_ADDR=" + ch.Addr(), "CH_USER=" + ch.User, "CH_PASSWORD=" + secret}, exitError).
		assertRedacted(t, []string{secret})
}
