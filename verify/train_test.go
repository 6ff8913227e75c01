package verify

import (
	"path/filepath"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

func TestTrainFixtures(t *testing.T) {
	for _, name := range []string{"swin-nyud-train", "swin-pascal-train"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixture.Root(t), "train", name)
			if !IsTrainFixture(dir) {
				t.Fatalf("%s: not detected as a training fixture", dir)
			}
			checks, err := Train(dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			groups := map[string]int{}
			worst := map[string]float64{}
			for _, c := range checks {
				groups[c.Group]++
				if c.Tol > 0 {
					worst[c.Group] = max(worst[c.Group], c.Err/c.Tol)
				}
				if !c.OK {
					t.Errorf("%s %s: %s %.3g > %.3g", c.Group, c.Name, c.Measure, c.Err, c.Tol)
				}
			}
			t.Logf("checks per group %v; worst error/tolerance %v", groups, worst)
			for _, g := range []string{"out_train", "loss", "grad", "bn_after", "sgd_step"} {
				if groups[g] == 0 {
					t.Errorf("no %s check", g)
				}
			}
		})
	}
}

func TestModelFixtureIsNotTrainFixture(t *testing.T) {
	if IsTrainFixture(filepath.Join(fixture.Root(t), "swin-nyud-small")) {
		t.Fatal("a model fixture was taken for a training fixture")
	}
}
