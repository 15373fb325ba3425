//go:build race

package kmeans

const raceEnabled = true
