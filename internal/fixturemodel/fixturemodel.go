// Package fixturemodel loads the checkpoint of an official model fixture (a package of its
// own so that the checkpoint reader's tests can use package fixture without a cycle).
package fixturemodel

import (
	"fmt"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/torchckpt"
	"github.com/demt-web/demt/verify"
)

// Load reads the fixture's checkpoint and returns its inferred architecture and normalised
// state dict.
func Load(m *fixture.Model) (*model.Config, *model.Weights, error) {
	w, err := torchckpt.ReadFile(m.CkptPath)
	if err != nil {
		return nil, nil, err
	}
	if w, err = model.NormalizeKeys(w); err != nil {
		return nil, nil, err
	}
	cfg, err := model.InferConfig(w)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", m.CkptPath, err)
	}
	return cfg, w, nil
}

// Plan loads the fixture and returns the plain plan at its input's size and that input
// (normalised, channels-last).
func Plan(m *fixture.Model) (*model.Plan, []float32, error) {
	cfg, w, err := Load(m)
	if err != nil {
		return nil, nil, err
	}
	in, h, wd, err := verify.Input(m)
	if err != nil {
		return nil, nil, err
	}
	p, err := model.Build(cfg, w, h, wd)
	if err != nil {
		return nil, nil, err
	}
	return p, in, nil
}
