package plc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenSQLitePathIsLiteral: characters that mean something in a SQLite
// URI ('?' starts the parameters, '#' a fragment, '%' an escape) stay part
// of the file name: the database is the file of exactly that name, a
// "?_pragma=..." in the name runs no pragma, and the store's own pragmas
// still apply. An empty path, or one with a NUL byte (which would cut
// the C string), is refused.
func TestOpenSQLitePathIsLiteral(t *testing.T) {
	ctx := context.Background()
	log := loadLog(t, "log_bskyapp.json")
	for _, name := range []string{
		"plain.db",
		"a?_pragma=journal_mode(DELETE)&x=1.db",
		"b#frag.db",
		"c%3F100%25.db",
		"d?mode=ro#x?y.db",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			s, err := OpenSQLite(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			op := StoredOp{DID: log[0].DID, CID: log[0].CID, Op: log[0].Operation, CreatedAt: mustTime(t, log[0].CreatedAt)}
			if err := s.Commit(ctx, op, "", nil); err != nil {
				t.Fatal(err)
			}
			var mode string
			if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
			s.Close()
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range entries {
				switch e.Name() {
				case name:
					found = true
				case name + "-wal", name + "-shm":
				default:
					t.Errorf("unexpected file %q next to %q", e.Name(), name)
				}
			}
			if !found {
				t.Fatalf("no file %q was created", name)
			}
			// Reopened at the same path, the store holds the operation.
			s, err = OpenSQLite(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ops, err := s.AuditLog(ctx, op.DID)
			if err != nil || len(ops) != 1 || ops[0].CID != op.CID {
				t.Fatalf("after reopening: %v, %v", ops, err)
			}
		})
	}
	for _, bad := range []string{"", filepath.Join(t.TempDir(), "x\x00.db")} {
		if _, err := OpenSQLite(ctx, bad); !errors.Is(err, ErrSQLitePath) {
			t.Errorf("OpenSQLite(%q) = %v, want ErrSQLitePath", bad, err)
		}
	}
}
