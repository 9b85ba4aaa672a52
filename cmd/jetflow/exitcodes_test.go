package main

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The README's exit code table lists exactly the codes the CLI ends with, which the report describes.
func TestREADMEExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (\d+) \| (.+) \|$`).FindAllStringSubmatch(string(b), -1)
	seen := map[int]bool{}
	for _, r := range rows {
		code, _ := strconv.Atoi(r[1])
		seen[code] = true
		if _, ok := exitMeanings[code]; !ok {
			t.Errorf("README lists exit code %d, which the CLI does not have", code)
		}
	}
	for _, code := range []int{exitOK, exitFailed, exitInvalid, exitInterrupted, exitError} {
		if !seen[code] {
			t.Errorf("exit code %d is not in the README's table", code)
		}
		if exitMeanings[code] == "" {
			t.Errorf("exit code %d has no meaning for the report", code)
		}
	}
}
