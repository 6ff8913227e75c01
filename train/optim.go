package train

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Param is one trainable tensor: its values and its gradient (same length), updated in place.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
	// LRMult scales the learning rate of this parameter (0 means 1): the official optimiser's
	// two groups, backbone (1) and the rest (head_lr_mult, 1 in the DeMT configs).
	LRMult float64
}

func (p Param) lrMult() float64 {
	if p.LRMult == 0 {
		return 1
	}
	return p.LRMult
}

// Method is an optimiser's update rule.
type Method uint8

// Update rules.
const (
	// SGD is torch.optim.SGD with momentum (dampening 0, no Nesterov) and L2 weight decay
	// added to the gradient: the official DeMT optimiser.
	SGD Method = iota
	// AdamW is torch.optim.AdamW (decoupled weight decay, no amsgrad).
	AdamW
)

func (m Method) String() string {
	switch m {
	case SGD:
		return "sgd"
	case AdamW:
		return "adamw"
	}
	return fmt.Sprintf("Method(%d)", m)
}

// Config is an optimiser and its learning-rate schedule:
// lr_k = ((LR − MinLR)·(1 − k/Iterations)^Power + MinLR) · min(1, (k+1)/WarmupSteps)
// for the k-th update (k = 0 first; the warm-up factor is 1 when WarmupSteps is 0).
type Config struct {
	Method      Method
	LR          float64
	WeightDecay float64
	Momentum    float64 // SGD
	Beta1       float64 // AdamW
	Beta2       float64 // AdamW
	Eps         float64 // AdamW
	Iterations  int     // schedule length (the poly schedule reaches MinLR at Iterations)
	Power       float64
	MinLR       float64
	WarmupSteps int // linear warm-up (not in the official DeMT code: 0)
}

// OfficialSGD is the official DeMT optimiser: SGD(lr 0.001, momentum 0.9, weight decay 5e-4 on
// every parameter) with PolynomialLR(power 0.9, min_lr 0) stepped every iteration.
func OfficialSGD(iterations int) Config {
	return Config{Method: SGD, LR: 0.001, Momentum: 0.9, WeightDecay: 5e-4, Iterations: iterations, Power: 0.9}
}

// DefaultAdamW is torch's AdamW defaults (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay
// 1e-2) under the same polynomial schedule.
func DefaultAdamW(iterations int) Config {
	return Config{Method: AdamW, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2, Iterations: iterations, Power: 0.9}
}

// Optimizer updates a fixed list of parameters; its state (step count, momentum / moment
// buffers) can be written and read back for resuming.
type Optimizer struct {
	cfg    Config
	params []Param
	step   int
	slots  [][][]float32 // [slot][param]: SGD momentum; AdamW m, v
}

// New checks cfg and the parameters and allocates the optimiser state (zero).
func New(cfg Config, params []Param) (*Optimizer, error) {
	switch {
	case cfg.Method != SGD && cfg.Method != AdamW:
		return nil, fmt.Errorf("optimiser: unknown method %d", cfg.Method)
	case !(cfg.LR >= 0) || !(cfg.WeightDecay >= 0) || cfg.Iterations <= 0 || cfg.WarmupSteps < 0 || !(cfg.MinLR >= 0):
		return nil, fmt.Errorf("optimiser: bad schedule (lr %v, weight decay %v, iterations %d, warm-up %d, min lr %v)",
			cfg.LR, cfg.WeightDecay, cfg.Iterations, cfg.WarmupSteps, cfg.MinLR)
	case cfg.Method == AdamW && (!(cfg.Beta1 >= 0 && cfg.Beta1 < 1) || !(cfg.Beta2 >= 0 && cfg.Beta2 < 1) || !(cfg.Eps > 0)):
		return nil, fmt.Errorf("optimiser: bad AdamW betas %v, %v or eps %v", cfg.Beta1, cfg.Beta2, cfg.Eps)
	}
	seen := map[string]bool{}
	for _, p := range params {
		if len(p.Value) != len(p.Grad) {
			return nil, fmt.Errorf("optimiser: parameter %s has %d values and %d gradients", p.Name, len(p.Value), len(p.Grad))
		}
		if !(p.LRMult >= 0) {
			return nil, fmt.Errorf("optimiser: parameter %s has learning-rate multiplier %v", p.Name, p.LRMult)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("optimiser: duplicate parameter %s", p.Name)
		}
		seen[p.Name] = true
	}
	o := &Optimizer{cfg: cfg, params: params}
	nslots := 1
	if cfg.Method == AdamW {
		nslots = 2
	}
	for s := 0; s < nslots; s++ {
		bufs := make([][]float32, len(params))
		for i, p := range params {
			bufs[i] = make([]float32, len(p.Value))
		}
		o.slots = append(o.slots, bufs)
	}
	return o, nil
}

// Steps returns the number of updates done.
func (o *Optimizer) Steps() int { return o.step }

// LR returns the learning rate of the next update.
func (o *Optimizer) LR() float64 { return o.cfg.lrAt(o.step) }

func (c Config) lrAt(k int) float64 {
	f := 1 - float64(k)/float64(c.Iterations)
	lr := c.MinLR
	if f > 0 {
		lr += (c.LR - c.MinLR) * math.Pow(f, c.Power)
	}
	if c.WarmupSteps > 0 && k < c.WarmupSteps {
		lr *= float64(k+1) / float64(c.WarmupSteps)
	}
	return lr
}

// Step applies one update to every parameter from its Grad, in float32 in torch's order.
func (o *Optimizer) Step() {
	lr := o.LR()
	o.step++
	switch o.cfg.Method {
	case SGD:
		wd, mom := float32(o.cfg.WeightDecay), float32(o.cfg.Momentum)
		first := o.step == 1
		for i, p := range o.params {
			nlr := float32(-lr * p.lrMult())
			buf := o.slots[0][i]
			th, g := p.Value, p.Grad[:len(p.Value)]
			buf = buf[:len(th)]
			for j, v := range th {
				d := g[j] + wd*v
				if first {
					buf[j] = d
				} else {
					buf[j] = mom*buf[j] + d
				}
				th[j] = v + nlr*buf[j]
			}
		}
	case AdamW:
		b1, b2 := o.cfg.Beta1, o.cfg.Beta2
		bc1 := 1 - math.Pow(b1, float64(o.step))
		bc2 := 1 - math.Pow(b2, float64(o.step))
		sq2 := float32(math.Sqrt(bc2))
		eps := float32(o.cfg.Eps)
		fb1, fb2, gb1, gb2 := float32(b1), float32(b2), float32(1-b1), float32(1-b2)
		for i, p := range o.params {
			plr := lr * p.lrMult()
			decay := float32(1 - plr*o.cfg.WeightDecay)
			stepSize := float32(plr / bc1)
			m, v := o.slots[0][i], o.slots[1][i]
			th, g := p.Value, p.Grad[:len(p.Value)]
			m, v = m[:len(th)], v[:len(th)]
			for j := range th {
				t := th[j] * decay
				m[j] = m[j]*fb1 + gb1*g[j]
				v[j] = v[j]*fb2 + gb2*g[j]*g[j]
				denom := float32(math.Sqrt(float64(v[j])))/sq2 + eps
				th[j] = t - stepSize*(m[j]/denom)
			}
		}
	}
}

const stateMagic = "DEMTOPT1"

// WriteState writes the optimiser state: magic, method, step, then per slot and parameter
// the name and the float32 buffer (little endian).
func (o *Optimizer) WriteState(w io.Writer) error {
	bw := bufio.NewWriter(w)
	put := func(v uint64) { _ = binary.Write(bw, binary.LittleEndian, v) }
	bw.WriteString(stateMagic)
	put(uint64(o.cfg.Method))
	put(uint64(o.step))
	put(uint64(len(o.slots)))
	put(uint64(len(o.params)))
	for _, bufs := range o.slots {
		for i, p := range o.params {
			put(uint64(len(p.Name)))
			bw.WriteString(p.Name)
			put(uint64(len(bufs[i])))
			if err := binary.Write(bw, binary.LittleEndian, bufs[i]); err != nil {
				return fmt.Errorf("optimiser state of %s: %w", p.Name, err)
			}
		}
	}
	return bw.Flush()
}

// ReadState restores a state written by WriteState for the same method and parameters (names
// and sizes must match).
func (o *Optimizer) ReadState(r io.Reader) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(stateMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != stateMagic {
		return fmt.Errorf("optimiser state: not a %s file", stateMagic)
	}
	get := func(what string) (uint64, error) {
		var v uint64
		if err := binary.Read(br, binary.LittleEndian, &v); err != nil {
			return 0, fmt.Errorf("optimiser state: %s: %w", what, err)
		}
		return v, nil
	}
	method, err := get("method")
	if err != nil {
		return err
	}
	if Method(method) != o.cfg.Method {
		return fmt.Errorf("optimiser state: written by %s, this optimiser is %s", Method(method), o.cfg.Method)
	}
	step, err := get("step")
	if err != nil {
		return err
	}
	nslots, err := get("slots")
	if err != nil {
		return err
	}
	nparams, err := get("parameters")
	if err != nil {
		return err
	}
	if nslots != uint64(len(o.slots)) || nparams != uint64(len(o.params)) {
		return fmt.Errorf("optimiser state: %d slots × %d parameters, want %d × %d", nslots, nparams, len(o.slots), len(o.params))
	}
	for _, bufs := range o.slots {
		for i, p := range o.params {
			n, err := get("name length")
			if err != nil {
				return err
			}
			if n != uint64(len(p.Name)) {
				return fmt.Errorf("optimiser state: parameter %d is not %s", i, p.Name)
			}
			name := make([]byte, n)
			if _, err := io.ReadFull(br, name); err != nil {
				return fmt.Errorf("optimiser state: name of parameter %d: %w", i, err)
			}
			if string(name) != p.Name {
				return fmt.Errorf("optimiser state: parameter %d is %q, want %s", i, name, p.Name)
			}
			size, err := get("size of " + p.Name)
			if err != nil {
				return err
			}
			if size != uint64(len(bufs[i])) {
				return fmt.Errorf("optimiser state: %s has %d values, want %d", p.Name, size, len(bufs[i]))
			}
			if err := binary.Read(br, binary.LittleEndian, bufs[i]); err != nil {
				return fmt.Errorf("optimiser state: %s: %w", p.Name, err)
			}
		}
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("optimiser state: trailing bytes")
	}
	o.step = int(step)
	return nil
}

// SaveState writes the state to path (temp file + rename).
func (o *Optimizer) SaveState(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".optim-*")
	if err != nil {
		return fmt.Errorf("save optimiser state: %w", err)
	}
	if err := o.WriteState(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("save optimiser state %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save optimiser state %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save optimiser state: %w", err)
	}
	return nil
}

// LoadState reads a state saved by SaveState.
func (o *Optimizer) LoadState(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load optimiser state: %w", err)
	}
	defer f.Close()
	if err := o.ReadState(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
