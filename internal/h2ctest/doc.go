// Package h2ctest holds the core's tests that need golang.org/x/net (x/net's
// h2c.NewHandler and HTTP/2 Transport). It is a module of its own so that
// the core module's go.mod requires golang.org/x/sys and goleak only: a
// test-only requirement of the core would still be listed in its go.mod,
// and so in every consumer's module graph and go.sum.
package h2ctest
