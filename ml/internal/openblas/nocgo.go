//go:build openblas && !cgo

package openblas

// The openblas tag needs cgo: build with CGO_ENABLED=1 and a C compiler,
// or without the tag for the pure-Go build.
var _ = openblasTagNeedsCgo
