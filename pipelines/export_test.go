package pipelines

import (
	"slices"

	"github.com/jetflow-dev/jetflow/stage"
)

// ReferenceWithoutTestStages is Reference() as a binary without this package's test stages renders it.
func ReferenceWithoutTestStages() string {
	return reference(func(r *stage.Registration) bool { return !slices.Contains(testStageTypes, r.Name) })
}

// LookupTestEnv is the environment of this package's test pipelines.
var LookupTestEnv = lookupTestEnv
