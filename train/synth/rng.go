package synth

import "math"

// rng is a splitmix64 generator: tiny, fast and fully specified, so a seed gives the same
// scene on every Go version and platform (math/rand's streams are not a documented contract).
type rng struct{ s uint64 }

// newRNG returns the generator of scene index under seed. Each scene has its own stream, so
// scenes can be rendered in any order and on any number of workers with identical results.
func newRNG(seed uint64, index int) *rng {
	r := &rng{s: seed*0x9e3779b97f4a7c15 ^ uint64(index)*0xd1b54a32d192ed03 ^ 0x5eed5eed}
	r.next()
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// uniform returns a uniform value in [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// intn returns a uniform integer in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// chance returns true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// normal returns a standard normal value (Box–Muller).
func (r *rng) normal() float64 {
	u := 1 - r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.float())
}

// hash3 hashes an integer lattice point with a per-texture key (for value noise).
func hash3(x, y, z int64, key uint64) float64 {
	h := uint64(x)*0x8da6b343 ^ uint64(y)*0xd8163841 ^ uint64(z)*0xcb1ab31f ^ key
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return float64(h>>11) / (1 << 53)
}
