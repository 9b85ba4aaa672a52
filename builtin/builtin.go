// Package builtin links every stage type shipped with jetflow into a binary: import it for its side effects.
package builtin

import (
	_ "github.com/jetflow-dev/jetflow/consumers/clickhouse" // consumer "clickhouse"
	_ "github.com/jetflow-dev/jetflow/consumers/generate"   // consumer "generate"
	_ "github.com/jetflow-dev/jetflow/consumers/httpapi"    // consumer "httpapi"
	_ "github.com/jetflow-dev/jetflow/consumers/kafka"      // consumer "kafka"
	_ "github.com/jetflow-dev/jetflow/consumers/postgres"   // consumer "postgres"
	_ "github.com/jetflow-dev/jetflow/loaders/iceberg"      // loader "iceberg"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"      // loader "parquet"
	_ "github.com/jetflow-dev/jetflow/transformers"         // select, drop, rename, reorder, cast, metadata, hash, mask, flatten, explode, dedupe, json_extract, schema
	_ "github.com/jetflow-dev/jetflow/transformers/expr"    // transformers "filter", "derive"
)
