package main

import (
	"bytes"
	"strings"

	"github.com/townhall-dev/townhall/community"
)

// Private audiences from the CLI: a moderator creates one (community
// audience), members write into it (community write --audience), its
// readers read it and back it up (community read -o), the backup verifies
// offline (verify audience) and moves with the community (community import
// --audience-car).

func communityAudience(e *env, c *community.Community, f *communityFlags) error {
	if *f.audience == "" || *f.readers == "" {
		return usageErr("community audience needs --key MOD.key --audience NAME --readers ROLE[,ROLE...]")
	}
	s, err := session(e, c, *f.key)
	if err != nil {
		return err
	}
	req, err := s.CreateAudience(*f.audience, strings.Split(*f.readers, ",")...)
	if err != nil {
		return invalidErr("cannot sign the audience: %v", err)
	}
	res, err := c.Invoke(e.ctx, req)
	if err != nil {
		return invalidErr("audience refused: %v", err)
	}
	if *f.asJSON {
		return writeJSON(e, resultJSON(res))
	}
	printf(e, "audience %s created, readable by %s (commit %s)\n", *f.audience, *f.readers, res.Commit)
	return nil
}

// communityRead reads a private audience as one of its readers, and with
// -o writes the reader's verifiable backup of it (an audience CAR).
func communityRead(e *env, c *community.Community, f *communityFlags) error {
	if *f.audience == "" {
		return usageErr("community read needs --key K --audience NAME [-o BACKUP.car]")
	}
	s, err := session(e, c, *f.key)
	if err != nil {
		return err
	}
	req, err := s.Read(*f.audience)
	if err != nil {
		return invalidErr("cannot sign the read: %v", err)
	}
	view, err := c.ReadAudience(e.ctx, req)
	if err != nil {
		return invalidErr("read refused: %v", err)
	}
	if *f.out != "" {
		var buf bytes.Buffer
		if err := view.WriteCAR(&buf); err != nil {
			return invalidErr("cannot write the audience CAR: %v", err)
		}
		if err := writeNewFile(*f.out, buf.Bytes(), privateFile); err != nil {
			return err
		}
	}
	if *f.asJSON {
		list := []any{}
		for _, r := range view.Records {
			v, err := valueJSON(r.Value)
			if err != nil {
				return invalidErr("record %s/%s: %v", r.Collection, r.RKey, err)
			}
			list = append(list, map[string]any{"path": r.Collection + "/" + r.RKey, "cid": r.CID.String(), "value": v})
		}
		return writeJSON(e, map[string]any{"audience": view.Audience, "commit": view.Commit.String(), "root": view.Root.String(), "records": list})
	}
	printf(e, "audience %s: %d records under root %s (commit %s)\n", view.Audience, len(view.Records), view.Root, view.Commit)
	for _, r := range view.Records {
		printf(e, "  %s/%s %s\n", r.Collection, r.RKey, r.CID)
	}
	return nil
}
