package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMECLI runs the README's "CLI in five lines" (after the go
// install line) with the built binary, in a fresh home, so that the README
// cannot drift from the CLI.
func TestREADMECLI(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## The CLI in five lines")
	if !ok {
		t.Fatal("README.md has no CLI section")
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "go install ./cmd/townhall") {
		t.Fatalf("the CLI section is not five lines starting with go install:\n%s", block)
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", "-e", "-c", strings.Join(lines[1:], "\n"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binPath)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TOWNHALL_HOME="+filepath.Join(dir, "home"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README CLI lines failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "verified: commit signature") {
		t.Fatalf("the last line did not verify the export:\n%s", out)
	}
}
