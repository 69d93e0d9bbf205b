//go:build race

package findmy

// raceEnabled is set under the race detector, which slows the random
// comparisons with math/big tenfold and has nothing to find in them: they
// share no memory between goroutines.
const raceEnabled = true
