package plc

import (
	"testing"
	"time"
)

// TestEmptyAuditState: the reading methods of a fresh NewAuditState give
// their documented zero results instead of panicking, and the state still
// accepts its genesis operation afterwards.
func TestEmptyAuditState(t *testing.T) {
	host, rec := newKey(t, false), newKey(t, false)
	g, did, err := NewGenesis(GenesisOptions{RecoveryKeys: []string{rec.did}, HostRotationKey: host.did, SigningKey: host.did, Endpoint: "https://a.test"}, host.priv)
	if err != nil {
		t.Fatal(err)
	}
	s := NewAuditState(did, ValidateOptions{})
	if op, cid := s.Head(); op != nil || cid != "" {
		t.Errorf("Head of an empty state = %v, %q; want nil, \"\"", op, cid)
	}
	if s.Tombstoned() {
		t.Error("an empty state is tombstoned")
	}
	if d := s.Data(); d != nil {
		t.Errorf("Data of an empty state = %+v, want nil", d)
	}
	if n := len(s.Entries()); n != 0 {
		t.Errorf("Entries of an empty state: %d", n)
	}
	res, err := s.Apply(g, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if _, cid := s.Head(); cid != res.CID || s.Data() == nil || s.Data().PDSEndpoint() != "https://a.test" {
		t.Errorf("after genesis: head %s, data %+v", cid, s.Data())
	}
}
