package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGenerated fails when writer_types.go is not what writergen writes:
// run go generate in the module's root.
func TestGenerated(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../writer_types.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("writer_types.go is stale: run go generate in the module's root")
	}
}
