package verify

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/demt-web/demt/internal/fixture"
)

func TestCheckMetricsFixtures(t *testing.T) {
	for _, name := range []string{"nyud", "pascal"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(fixture.Root(t), "metrics", name)
			if !IsMetricFixture(dir) {
				t.Fatalf("%s: not detected as a metric fixture", dir)
			}
			checks, err := CheckMetrics(dir)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, c := range checks {
				t.Logf("%-60s got %.9g want %.9g err %.3g ok %v", c.Name, c.Got, c.Want, c.Err, c.OK)
				if !c.OK {
					t.Errorf("%s: got %.9g, want %.9g (err %.3g > %.3g)", c.Name, c.Got, c.Want, c.Err, c.Tol)
				}
				seen[strings.Fields(c.Name)[0]] = true
			}
			want := map[string][]string{
				"nyud":   {"semseg", "depth", "normals", "edge"},
				"pascal": {"semseg", "human_parts", "sal", "normals", "edge"},
			}[name]
			for _, task := range want {
				if !seen[task] {
					t.Errorf("no check of task %s", task)
				}
			}
		})
	}
}

func TestModelFixtureIsNotMetricFixture(t *testing.T) {
	if IsMetricFixture(filepath.Join(fixture.Root(t), "swin-nyud-small")) {
		t.Fatal("a model fixture was taken for a metric fixture")
	}
}
