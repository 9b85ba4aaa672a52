package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// linksTesting are the packages outside jetflow allowed to import testing into the binary: thrift (under
// parquet) has a TestLogger(testing.TB) in its logger.go. Anything else that links testing is a test helper
// leaking into the product.
var linksTesting = []string{"github.com/apache/thrift/lib/go/thrift"}

// TestBinaryDoesNotLinkTesting: `jetflow test` runs stage tests with the product packages (stagetest,
// internal/records), never with testkit, whose helpers take a testing.TB. Importing testing registers its flags
// and drags the test runtime into the binary.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var importers []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 1 && slices.Contains(fields[1:], "testing") && !slices.Contains(linksTesting, fields[0]) {
			importers = append(importers, fields[0])
		}
		if strings.HasPrefix(fields[0], "github.com/jetflow-dev/jetflow/testkit") {
			t.Errorf("the binary links %s, a test helper", fields[0])
		}
	}
	if len(importers) > 0 {
		t.Errorf("the binary links package testing through %s", strings.Join(importers, ", "))
	}
}
