package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/repo"
)

// TestExportImportProgress: a community large enough for the progress
// display (written in process through the home, then exported and
// imported by the binary; every message distinct, so that the CAR holds
// well over the display's 256 KiB step) shows its progress on stderr, and
// only there, only when asked (stderr is not a terminal here: --progress),
// and says done only on success.
func TestExportImportProgress(t *testing.T) {
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	c.run(nil, 0, "did:plc:", "account", "create", "mo")
	c.keygen("mo")
	c.keygen("rec")
	c.run(nil, 0, "did:plc:", "community", "create", "--name", "Big", "--account", "mo", "--key", c.path("mo.key"), "--recovery", c.path("rec.key"))

	ctx := context.Background()
	e := &env{ctx: ctx}
	h, err := openHome(ctx, c.home, "")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := h.open(ctx, "")
	if err != nil {
		h.close()
		t.Fatal(err)
	}
	s, err := session(e, cm, c.path("mo.key"))
	if err != nil {
		h.close()
		t.Fatal(err)
	}
	text := strings.Repeat("compost ", 120)
	tids := syntax.NewTIDClock(0)
	for b := 0; b < 24; b++ {
		var ws []community.Write
		for i := 0; i < 32; i++ {
			ws = append(ws, community.Write{Action: repo.ActionCreate, Collection: community.NSIDMessage,
				RKey: tids.Next().String(), Record: map[string]any{"$type": community.NSIDMessage,
					"channel": "general", "text": fmt.Sprintf("%d.%d %s", b, i, text), "createdAt": "2026-11-21T09:00:00.000Z"}})
		}
		req, err := s.Batch(ws)
		if err == nil {
			_, err = cm.Invoke(ctx, req)
		}
		if err != nil {
			h.close()
			t.Fatal(err)
		}
	}
	h.close()

	// stderr is a pipe here: no bar unless --progress asks for one.
	r := townhall(t, nil, "community", "export", "--home", c.home, "-o", c.path("plain.car"))
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "plain.car") {
		t.Fatalf("export to a non-terminal stderr: %+v", r)
	}
	r = townhall(t, nil, "community", "export", "--progress", "--home", c.home, "-o", c.path("big.car"), "--audit-log", c.path("audit.json"))
	if r.code != 0 || !strings.Contains(r.stderr, "\rexported") || !strings.HasSuffix(r.stderr, ", done\n") || strings.Contains(r.stdout, "exported") {
		t.Fatalf("export progress: %+v", r)
	}
	// A failed import never says done: without --progress its stderr is
	// the one-line reason, with it the bar's line is ended and the reason
	// follows.
	home2 := filepath.Join(dir, "home2")
	r = townhall(t, nil, "community", "import", c.path("big.car"), "--home", home2, "--audit-log", c.path("audit.json"), "--recovery", c.path("mo.key"))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "townhall: import refused") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("failed import: %+v", r)
	}
	r = townhall(t, nil, "community", "import", "--progress", c.path("big.car"), "--home", home2, "--audit-log", c.path("audit.json"), "--recovery", c.path("mo.key"))
	if r.code != 1 || strings.Contains(r.stderr, "done") || !strings.Contains(r.stderr, "\rimported") || !strings.Contains(r.stderr, "\ntownhall: import refused") {
		t.Fatalf("failed import with --progress: %+v", r)
	}
	r = townhall(t, nil, "community", "import", "--progress", c.path("big.car"), "--home", home2, "--audit-log", c.path("audit.json"), "--recovery", c.path("rec.key"))
	if r.code != 0 || !strings.Contains(r.stderr, "imported") || !strings.HasSuffix(r.stderr, ", done\n") || !strings.Contains(r.stdout, "now hosted here") {
		t.Fatalf("import progress: %+v", r)
	}
	r = townhall(t, nil, "community", "export", "--progress", "--home", c.home, "-o", c.path("quiet.car"), "-q")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("export -q: %+v", r)
	}
}
