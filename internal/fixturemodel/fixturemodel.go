// Package fixturemodel loads the checkpoint of an official model fixture (a package of its
// own so that the checkpoint reader's tests can use package fixture without a cycle).
package fixturemodel

import (
	"fmt"

	"github.com/demt-web/demt/internal/fixture"
	"github.com/demt-web/demt/model"
	"github.com/demt-web/demt/model/torchckpt"
)

// Load reads the fixture's checkpoint and returns its inferred architecture and normalised
// state dict.
func Load(m *fixture.Model) (*model.Config, *model.Weights, error) {
	w, err := torchckpt.ReadFile(m.CkptPath)
	if err != nil {
		return nil, nil, err
	}
	if w, err = model.Normalize(w); err != nil {
		return nil, nil, err
	}
	cfg, err := model.InferConfig(w)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", m.CkptPath, err)
	}
	return cfg, w, nil
}
