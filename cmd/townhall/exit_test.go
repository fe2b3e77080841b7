package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"modernc.org/sqlite"

	"github.com/townhall-dev/townhall/plc"
)

// TestExitCode: I/O failures that reach run without an exitError (a file
// system error, a SQLite error, a cancelled context, wrapped or not) exit
// 3, as documented, not 1; exitErrors keep their code; anything else is 1.
func TestExitCode(t *testing.T) {
	// A real SQLite error: a directory opened as a database.
	db, err := sql.Open("sqlite", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sqlErr := db.PingContext(context.Background())
	var qe *sqlite.Error
	if !errors.As(sqlErr, &qe) {
		t.Fatalf("opening a directory as a SQLite database: %v (%T), want a *sqlite.Error", sqlErr, sqlErr)
	}
	pathErr := &fs.PathError{Op: "open", Path: "/nope", Err: syscall.ENOENT}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"usage", usageErr("bad flag"), exitUsage},
		{"invalid", invalidErr("bad record"), exitInvalid},
		{"io", ioErr("cannot read"), exitIO},
		{"path error", pathErr, exitIO},
		{"wrapped path error", fmt.Errorf("repo: loading: %w", pathErr), exitIO},
		{"link error", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EXDEV}, exitIO},
		{"errno", fmt.Errorf("write: %w", syscall.ENOSPC), exitIO},
		{"sqlite", fmt.Errorf("repo: %w", sqlErr), exitIO},
		{"cancelled", fmt.Errorf("community: %w", context.Canceled), exitIO},
		{"plain", errors.New("something is wrong"), exitInvalid},
		{"plc rule", fmt.Errorf("op: %w", plc.ErrSigInvalid), exitInvalid},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s (%v): exit %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestRunInterrupted: a command whose context was cancelled (Ctrl-C)
// exits 3 and says it was interrupted.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
	code := run(e, []string{"account", "create", "mo", "--home", filepath.Join(t.TempDir(), "home")})
	if code != exitIO || !strings.HasPrefix(stderr.String(), "townhall: interrupted: ") {
		t.Fatalf("interrupted account create: exit %d, stderr %q; want 3 and \"interrupted\"", code, stderr.String())
	}
}

// TestInterruptContext: Ctrl-C cancels the commands' context instead of
// killing the process (this test process survives its own SIGINT).
func TestInterruptContext(t *testing.T) {
	ctx, stop := interruptContext()
	defer stop()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Skipf("cannot send os.Interrupt here: %v", err)
	}
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("context after Ctrl-C: %v", ctx.Err())
	}
}
