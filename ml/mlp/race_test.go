//go:build race

package mlp

func init() { raceEnabled = true }
