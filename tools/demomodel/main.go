// Command demomodel writes the demo pages' default model until a trained one exists: it
// converts the checkpoint of a model fixture (random weights) to .demt, with a note saying
// so, which the pages show.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/internal/fixturemodel"
	"github.com/demt-web/demt/model/demtfile"
)

// RandomWeightsNote is the metadata note of a model with random weights.
const RandomWeightsNote = "random weights: converted from the test fixture %s; its outputs are noise"

func main() {
	dir := flag.String("fixture", "", "the model fixture `folder` (required)")
	out := flag.String("o", "", "the .demt `file` to write (required)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: demomodel -fixture DIR -o OUT.demt")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dir == "" || *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dir, *out); err != nil {
		fmt.Fprintf(os.Stderr, "demomodel: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(*out)
}

func run(dir, out string) error {
	fm, err := fixture.LoadModel(dir)
	if err != nil {
		return err
	}
	cfg, w, err := fixturemodel.Load(fm)
	if err != nil {
		return err
	}
	meta := &demtfile.Metadata{Config: *cfg, Normalization: demtfile.ImageNetNormalization(),
		CreatedBy: "demt-web tools/demomodel", Notes: fmt.Sprintf(RandomWeightsNote, fm.Name)}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return demtfile.WriteFile(out, meta, w, demtfile.WriteOptions{DType: demtfile.DTypeF32})
}
