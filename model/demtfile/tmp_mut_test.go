package demtfile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTmpMutate(t *testing.T) {
	files, _ := filepath.Glob("testdata/fuzz/FuzzRead/*")
	rng := rand.New(rand.NewPCG(9, 9))
	for _, fn := range files {
		raw, _ := os.ReadFile(fn)
		s := string(raw)
		s = s[strings.Index(s, "(")+1 : strings.LastIndex(s, ")")]
		q, err := strconv.Unquote(s)
		if err != nil { t.Fatal(err) }
		seed := []byte(q)
		for it := 0; it < 3000; it++ {
			b := bytes.Clone(seed)
			for k := rng.IntN(4); k >= 0; k-- {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
			start := time.Now()
			fb := fixChecksums(b)
			d1 := time.Since(start)
			Read(bytes.NewReader(fb), nil)
			if d := time.Since(start); d > 200*time.Millisecond {
				t.Logf("%s it %d: fix %v total %v", fn, it, d1, d)
				os.WriteFile("/tmp/slow.demt", fb, 0o644)
			}
		}
	}
}
