//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"
)

// liveSetup(id, sw, sh, h, w) prepares the live path of a WebGPU model: the executor at
// h×w, preprocessing for sw×sh RGBA frames, and one RunFrame on a grey frame, whose GPU
// commands demt.js records to replay per frame. It resolves to the gpu.Schedule as JSON.
func (s *sessions) liveSetup(a []js.Value) (any, error) {
	if len(a) != 5 {
		return nil, errors.New("liveSetup(id, sw, sh, h, w): want five arguments")
	}
	m, err := s.model(a[0])
	if err != nil {
		return nil, err
	}
	if m.backend != backendWebGPU {
		return nil, coded("bad-input", errors.New("the live path needs the WebGPU backend"))
	}
	sw, sh, h, w := a[1].Int(), a[2].Int(), a[3].Int(), a[4].Int()
	if sw <= 0 || sh <= 0 || sw*sh > maxSide*maxSide {
		return nil, coded("input-too-large", fmt.Errorf("frame %dx%d", sw, sh))
	}
	if err := s.prepare(m, h, w); err != nil {
		return nil, err
	}
	grey := make([]uint8, 4*sw*sh)
	for i := range grey {
		grey[i] = 128
	}
	if err := m.gpu.RunFrame(grey, sw, sh, m.mean, m.std); err != nil {
		return nil, err
	}
	sched, err := m.gpu.Schedule()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(sched)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
