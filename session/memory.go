package session

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/demt-web/demt/model"
)

// ActivationBytes is the activation memory one run of plan p allocates, as the executors plan
// it (model.PlanMemory: the sum of the slots; with keepAll every tensor keeps its own).
func ActivationBytes(p *model.Plan, keepAll bool) (int64, error) {
	m, err := model.PlanMemory(p, model.MemoryOptions{KeepAll: keepAll})
	if err != nil {
		return 0, err
	}
	return m.Bytes(), nil
}

// AvailableMemory returns the memory the system can give this process without swapping
// (MemAvailable of /proc/meminfo), or 0 where that is not known.
func AvailableMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// checkMemory refuses a plan whose estimated activation memory exceeds the session's limit:
// Options.MaxMemory, or when that is 0 and the session runs on the CPU, the memory available.
func (s *Session) checkMemory(p *model.Plan) error {
	limit, what := s.opt.MaxMemory, "the limit"
	if limit == 0 && s.opt.GPU == nil {
		limit, what = AvailableMemory(), "the memory available"
	}
	if limit <= 0 {
		return nil
	}
	need, err := ActivationBytes(p, s.opt.KeepAll)
	if err != nil {
		return err
	}
	if need <= limit {
		return nil
	}
	return fmt.Errorf("a run at %dx%d needs about %s of activation memory, more than %s (%s): "+
		"run at a smaller size (--size) or raise the limit (--max-memory)", p.InH, p.InW, FormatBytes(need), what, FormatBytes(limit))
}

// FormatBytes writes n as a short human-readable size: "512 B", "3.4 MiB", "21.0 GiB".
func FormatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
