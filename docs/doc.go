// Package docs holds the generated references (REFERENCE.md, TYPES.md) and the tests that keep them true.
package docs
