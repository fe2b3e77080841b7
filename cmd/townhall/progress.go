package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// progressWriter counts bytes and draws them on w every 256 KiB.
// newProgress sets w only where a bar belongs.
type progressWriter struct {
	w     io.Writer // the progress display (nil: none)
	verb  string
	n     int64
	shown int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.w != nil && p.n-p.shown >= 256<<10 {
		p.shown = p.n
		io.WriteString(p.w, "\r"+p.verb+" "+humanBytes(p.n)+"   ")
	}
	return len(b), nil
}

// newProgress returns a progress display on stderr: drawn only when
// stderr is a terminal (carriage-return frames are noise in a log) or
// force is set (--progress), and never when quiet is (-q).
func newProgress(e *env, verb string, quiet, force bool) *progressWriter {
	p := &progressWriter{verb: verb}
	if !quiet && (force || isTerminal(e.stderr)) {
		p.w = e.stderr
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// done ends the display: "..., done" after success; after a failure only
// the line is ended, so that the error starts a line of its own.
func (p *progressWriter) done(err error) {
	if p.w == nil || p.shown == 0 {
		return
	}
	if err != nil {
		io.WriteString(p.w, "\n")
		return
	}
	io.WriteString(p.w, "\r"+p.verb+" "+humanBytes(p.n)+", done\n")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressReader draws how much of a file was read.
type progressReader struct {
	r io.Reader
	p *progressWriter
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.Write(b[:n])
	return n, err
}

// Modes of the files the CLI writes: private data (audience backups,
// bundles, proofs, invitations) for the owner only; public data (exports,
// audit logs) readable by all.
const (
	privateFile os.FileMode = 0o600
	publicFile  os.FileMode = 0o644
)

// writeNewFile writes data to a new file with mode perm (never
// overwriting one).
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	return createFile(path, data, perm, "choose another path")
}

// createFile is writeNewFile; ifExists is what the error says after
// "PATH exists: " when path exists.
func createFile(path string, data []byte, perm os.FileMode, ifExists string) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return ioErr("%s exists: %s", path, ifExists)
		}
		return ioErr("cannot create %s: %v", path, unwrapPathErr(err))
	}
	if _, err := file.Write(data); err != nil {
		file.Close()
		return ioErr("cannot write %s: %v", path, err)
	}
	if err := file.Close(); err != nil {
		return ioErr("cannot write %s: %v", path, err)
	}
	return nil
}
