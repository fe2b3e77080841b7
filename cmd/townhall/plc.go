package main

import (
	"encoding/json"

	"github.com/townhall-dev/townhall/plc"
)

type opSummary struct {
	Type         string                 `json:"type"`
	CID          string                 `json:"cid"`
	DID          string                 `json:"did,omitempty"`
	Prev         string                 `json:"prev,omitempty"`
	RotationKeys []string               `json:"rotationKeys,omitempty"`
	Methods      map[string]string      `json:"verificationMethods,omitempty"`
	AlsoKnownAs  []string               `json:"alsoKnownAs,omitempty"`
	Services     map[string]plc.Service `json:"services,omitempty"`
}

func runPLC(e *env, args []string) error {
	sub, args, err := subcommand("plc", args, "inspect", "audit")
	if err != nil {
		return err
	}
	fs := newFlags("plc " + sub)
	asJSON := fs.Bool("json", false, "print JSON")
	didArg := fs.String("did", "", "audit: the DID the log belongs to (default: taken from the log)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("plc %s needs one file ('-' for stdin)", sub)
	}
	data, err := readInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	if sub == "inspect" {
		op, err := plc.ParseOp(data)
		if err != nil {
			return invalidErr("not a valid did:plc operation: %v", err)
		}
		c, err := op.CID()
		if err != nil {
			return invalidErr("cannot compute the operation's CID: %v", err)
		}
		n := op.Normalize()
		s := &opSummary{Type: op.Type, CID: c.String(), Prev: op.Prev, RotationKeys: n.RotationKeys,
			Methods: n.VerificationMethods, AlsoKnownAs: n.AlsoKnownAs, Services: n.Services}
		if op.IsGenesis() {
			if did, err := op.DID(); err == nil {
				s.DID = did
			}
		}
		if *asJSON {
			return writeJSON(e, s)
		}
		printf(e, "type:  %s\ncid:   %s\n", s.Type, s.CID)
		if s.DID != "" {
			printf(e, "did:   %s (genesis)\n", s.DID)
		} else if s.Prev != "" {
			printf(e, "prev:  %s\n", s.Prev)
		}
		for i, k := range s.RotationKeys {
			printf(e, "rotation key %d: %s\n", i, k)
		}
		for id, k := range s.Methods {
			printf(e, "verification method #%s: %s\n", id, k)
		}
		for id, svc := range s.Services {
			printf(e, "service #%s: %s %s\n", id, svc.Type, svc.Endpoint)
		}
		return nil
	}
	var log []plc.LogEntry
	if err := json.Unmarshal(data, &log); err != nil {
		return invalidErr("not an audit log (a JSON array of entries as /:did/log/audit serves): %v", err)
	}
	if len(log) == 0 {
		return invalidErr("the audit log is empty")
	}
	did := *didArg
	if did == "" {
		did = log[0].DID
	}
	st, err := plc.ValidateAuditLog(did, log, plc.ValidateOptions{})
	if err != nil {
		return invalidErr("audit log rejected: %v", err)
	}
	nullified := 0
	for _, en := range log {
		if en.Nullified {
			nullified++
		}
	}
	if *asJSON {
		out := map[string]any{"valid": true, "did": did, "ops": st.Len(), "nullified": nullified, "tombstoned": st.Tombstoned()}
		if !st.Tombstoned() {
			out["document"] = st.Data().Document()
		}
		return writeJSON(e, out)
	}
	printf(e, "valid: %s, %d operations (%d nullified)\n", did, st.Len(), nullified)
	if st.Tombstoned() {
		printf(e, "the DID is tombstoned\n")
		return nil
	}
	doc, err := json.MarshalIndent(st.Data().Document(), "", "  ")
	if err != nil {
		return invalidErr("cannot render the DID document: %v", err)
	}
	printf(e, "%s\n", doc)
	return nil
}
