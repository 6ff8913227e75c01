package cpu

import (
	"sort"
	"testing"

	"github.com/demt-web/demt/model"

	"github.com/demt-web/demt/internal/optest"
)

// TestWeightRefresher: after the constants change in place, Refresh makes an executor compute
// what a freshly built one computes, for every case of the parity table, without allocating.
func TestWeightRefresher(t *testing.T) {
	for _, c := range optest.Cases() {
		p, input, out := c.Plan(3)
		e, err := New(p, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		r := NewWeightRefresher(e)
		for _, k := range sortedConsts(p.Consts) {
			for i, v := range p.Consts[k].Data {
				p.Consts[k].Data[i] = v*0.75 + 0.01*float32(i%5)
			}
		}
		if a := testing.AllocsPerRun(2, r.Refresh); a != 0 {
			t.Errorf("%s: Refresh allocates %v times", c.Name, a)
		}
		if err := e.Run(input); err != nil {
			t.Fatal(err)
		}
		fresh, err := New(p, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := fresh.Run(input); err != nil {
			t.Fatal(err)
		}
		got, want := e.Tensor(out), fresh.Tensor(out)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: refreshed output [%d] = %v, fresh executor %v", c.Name, i, got[i], want[i])
				break
			}
		}
		e.Close()
		fresh.Close()
	}
}

func sortedConsts(m map[string]*model.Const) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
