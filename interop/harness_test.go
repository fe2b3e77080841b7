//go:build interop

package interop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// seed is the run's seed: INTEROP_SEED when set, otherwise the clock. Every
// family derives its own generator from it, so one family's cases do not
// change when another family draws more numbers.
var seed = func() uint64 {
	if s := os.Getenv("INTEROP_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			panic(fmt.Sprintf("INTEROP_SEED=%q is not an unsigned integer", s))
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}()

func TestMain(m *testing.M) {
	fmt.Printf("interop: seed %d (rerun with INTEROP_SEED=%d)\n", seed, seed)
	os.Exit(m.Run())
}

// rng returns the generator of one family.
func rng(family string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(family))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// callNode runs `node node/main.mjs family` with req as JSON on stdin and
// decodes its JSON answer into resp.
func callNode(t *testing.T, family string, req, resp any) {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("encode request: %v", err)
	}
	if dir := os.Getenv("INTEROP_SAVE_REQUESTS"); dir != "" {
		// For running one family's Node side by hand:
		// node node/main.mjs family < dir/family.json
		if err := os.WriteFile(filepath.Join(dir, family+".json"), in, 0o644); err != nil {
			t.Fatalf("save request: %v", err)
		}
	}
	cmd := exec.Command("node", "node/main.mjs", family)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", family, err, stderr.String())
	}
	t.Logf("node %s: %d bytes in, %d bytes out, %v", family, len(in), stdout.Len(), time.Since(start).Round(time.Millisecond))
	if err := json.Unmarshal(stdout.Bytes(), resp); err != nil {
		t.Fatalf("decode answer of node %s: %v", family, err)
	}
}

// maxReports is how many failures of one kind are printed in full
// (INTEROP_MAX_REPORTS, default 3).
var maxReports = func() int {
	if n, err := strconv.Atoi(os.Getenv("INTEROP_MAX_REPORTS")); err == nil && n > 0 {
		return n
	}
	return 3
}()

// failures collects disagreements and reports the first few of each kind,
// so one systematic difference does not bury the log.
type failures struct {
	t      *testing.T
	counts map[string]int
}

func newFailures(t *testing.T) *failures { return &failures{t: t, counts: map[string]int{}} }

func (f *failures) add(kind, format string, args ...any) {
	f.t.Helper()
	f.counts[kind]++
	if f.counts[kind] <= maxReports {
		f.t.Errorf("%s: %s", kind, fmt.Sprintf(format, args...))
	}
}

func (f *failures) done() {
	f.t.Helper()
	for kind, n := range f.counts {
		if n > maxReports {
			f.t.Errorf("%s: %d cases in all", kind, n)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
