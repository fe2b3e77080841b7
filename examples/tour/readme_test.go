package tour_test

import (
	"os"
	"strings"
	"testing"
)

// between returns the lines strictly between the line containing begin and
// the line containing end, with their common indentation removed.
func between(t *testing.T, text, begin, end string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	start, stop := -1, -1
	for i, l := range lines {
		if strings.Contains(l, begin) && start < 0 {
			start = i
		} else if strings.Contains(l, end) && start >= 0 {
			stop = i
			break
		}
	}
	if start < 0 || stop < 0 {
		t.Fatalf("markers %q and %q not found", begin, end)
	}
	body := lines[start+1 : stop]
	for i, l := range body {
		body[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(body, "\n")
}

// TestREADMETour: the README shows exactly the tested Example's code.
func TestREADMETour(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("tour_test.go")
	if err != nil {
		t.Fatal(err)
	}
	want := between(t, string(src), "// BEGIN TOUR", "// END TOUR")
	if !strings.Contains(string(readme), "```go\n"+want+"\n```") {
		t.Errorf("README.md's tour differs from examples/tour/tour_test.go (between BEGIN TOUR and END TOUR); paste this into the README:\n%s", want)
	}
}
