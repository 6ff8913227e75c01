package optest

import (
	"hash/fnv"
	"math"
	"testing"

	"github.com/demt-web/demt/f16"
	"github.com/demt-web/demt/model"
)

// Find returns the case of the table with the given name.
func Find(t testing.TB, name string) Case {
	t.Helper()
	for _, c := range Cases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("optest: no case %q", name)
	return Case{}
}

// Seed returns the seed of the case's random input and weights, derived from its name so
// that a case keeps its values wherever it stands in the table.
func (c *Case) Seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(c.Name))
	return h.Sum64()
}

// HasWeights reports whether the case runs a matrix weight that an f16 variant stores as
// f16: a Linear, Conv2D or window attention op, or a Then op.
func (c *Case) HasWeights() bool {
	k := c.Op.Kind
	return k == model.OpLinear || k == model.OpConv2D || k == model.OpDeformLinear || k == model.OpWindowAttention || c.Then != nil
}

// RoundWeightsF16 returns a copy of p whose Linear, Conv2D and window-attention weights are
// rounded to f16: the values an f16-weights variant computes with.
func RoundWeightsF16(p *model.Plan) *model.Plan {
	q := *p
	q.Consts = map[string]*model.Const{}
	for k, v := range p.Consts {
		q.Consts[k] = v
	}
	for _, op := range p.Ops {
		if op.Kind != model.OpLinear && op.Kind != model.OpConv2D && op.Kind != model.OpDeformLinear && op.Kind != model.OpWindowAttention {
			continue
		}
		for _, name := range []string{op.Weight, op.QKVWeight} {
			if c, ok := p.Consts[name]; ok {
				r := *c
				r.Data = f16.RoundSlice(c.Data)
				q.Consts[name] = &r
			}
		}
	}
	return &q
}

// MaxDiff returns max |a − b| (NaN if any difference is NaN) and max |b|.
func MaxDiff(a, b []float32) (diff, ref float64) {
	for i := range b {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > diff || math.IsNaN(d) {
			diff = d
		}
		ref = max(ref, math.Abs(float64(b[i])))
	}
	return diff, ref
}
