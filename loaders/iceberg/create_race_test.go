package iceberg

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// creatingElsewhere is a catalog in which another worker is creating the table: its create says the table exists,
// and its first loads find none (the hadoop catalog between making the table's directory and writing its first
// metadata file), until the other worker's create lands.
type creatingElsewhere struct {
	catalog.Catalog
	missingLoads int
	other        func() error // the other worker's create
	loads        int
}

func (c *creatingElsewhere) CreateTable(context.Context, table.Identifier, *iceberg.Schema, ...catalog.CreateTableOpt) (*table.Table, error) {
	return nil, catalog.ErrTableAlreadyExists
}

func (c *creatingElsewhere) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	c.loads++
	if c.loads <= c.missingLoads {
		return nil, catalog.ErrNoSuchTable
	}
	if c.loads == c.missingLoads+1 {
		if err := c.other(); err != nil {
			return nil, err
		}
	}
	return c.Catalog.LoadTable(ctx, ident)
}

// TestCreateRaceWaitsForTheOtherWorker: a worker whose create finds the table another worker is creating loads it
// once it can be loaded, instead of failing with "table does not exist" (seen once in TestConcurrentWorkers/hadoop).
func TestCreateRaceWaitsForTheOtherWorker(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, tc := range []struct {
		name         string
		missingLoads int
		err          string
	}{
		{"loadable at once", 0, ""},
		{"loadable after a few tries", 3, ""},
		{"never loadable: fails after a few seconds", 1000, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			other := newLoader(t, dir, func(c *Config) { c.Catalog.Type = "hadoop" })
			l := newLoader(t, dir, func(c *Config) { c.Catalog.Type = "hadoop" })
			cat, err := l.Catalog(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			race := &creatingElsewhere{Catalog: cat, missingLoads: tc.missingLoads, other: func() error {
				_, err := other.Table(t.Context(), schema)
				return err
			}}
			tbl, err := l.create(t.Context(), race, schema)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("create: %v", err)
			case tc.err == "" && tbl == nil:
				t.Fatal("no table")
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}
