// Package synth renders seeded synthetic indoor scenes — a room, furniture, wall fixtures
// and people built from parts, lit by one point light with ray-traced shadows — by an
// analytic per-pixel ray cast, with exact ground truth for the six DeMT tasks (semseg,
// human parts, saliency, normals, boundaries, depth), and writes them as datasets in the
// project's layout or the official NYUD-v2 and PASCAL-Context layouts. The same options
// give bit-identical output. docs/synth.md describes the scene model and conventions.
package synth
