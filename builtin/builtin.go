// Package builtin links every stage type shipped with jetflow into a binary: import it for its side effects.
package builtin

import (
	_ "github.com/jetflow-dev/jetflow/consumers/generate" // consumer "generate"
	_ "github.com/jetflow-dev/jetflow/loaders/parquet"    // loader "parquet"
	_ "github.com/jetflow-dev/jetflow/transformers/expr"  // transformers "filter", "derive"
)
