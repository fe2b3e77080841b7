package plc

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func loadLog(t testing.TB, name string) []LogEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "didplc", name))
	if err != nil {
		t.Fatal(err)
	}
	var log []LogEntry
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return log
}

// validVectors maps each valid log to the index of the operation that must
// end up as its head, and whether the DID ends tombstoned.
var validVectors = []struct {
	file       string
	head       int
	tombstoned bool
	aka        []string
	pds        string
}{
	{"log_bskyapp.json", 1, false, []string{"at://bsky.app"}, "https://bsky.social"},
	{"log_legacy_dholms.json", 4, false, []string{"at://dholms.xyz"}, "https://bsky.social"},
	{"log_bnewbold_robocracy.json", 1, false, []string{"at://bnewbold.robocracy.org"}, "https://pds.robocracy.org"},
	{"log_empty_rotation_keys.json", 1, false, []string{}, ""},
	{"log_duplicate_rotation_keys.json", 0, false, []string{}, ""},
	{"log_nullification.json", 2, false, []string{"at://foo"}, ""},
	{"log_nullification_nontrivial.json", 7, false, []string{"at://op7"}, ""},
	{"log_nullification_at_exactly_72h.json", 3, false, []string{"at://op3"}, ""},
	{"log_nullified_tombstone.json", 3, false, []string{"at://op3"}, ""},
	{"log_tombstone.json", 1, true, nil, ""},
}

var invalidVectors = []struct {
	file  string
	index int
	want  error
}{
	{"log_invalid_sig_b64_padding_chars.json", 0, ErrSigPadding},
	{"log_invalid_sig_b64_padding_bits.json", 0, ErrSigEncoding},
	{"log_invalid_sig_b64_newline.json", 0, ErrSigNewline},
	{"log_invalid_sig_der.json", 0, ErrSigDER},
	{"log_invalid_sig_p256_high_s.json", 0, ErrSigHighS},
	{"log_invalid_sig_k256_high_s.json", 0, ErrSigHighS},
	{"log_invalid_nullification_reused_key.json", 2, ErrNullifyUnauthorized},
	{"log_invalid_nullification_too_slow.json", 2, ErrLateRecovery},
	{"log_invalid_update_nullified.json", 4, ErrPrevNullified},
	{"log_invalid_update_tombstoned.json", 2, ErrTombstoned},
}

func TestVectorsValid(t *testing.T) {
	for _, v := range validVectors {
		t.Run(v.file, func(t *testing.T) {
			log := loadLog(t, v.file)
			for _, workers := range []int{1, 2} {
				s, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{Workers: workers})
				if err != nil {
					t.Fatalf("workers=%d: %v", workers, err)
				}
				op, c := s.Head()
				if c != log[v.head].CID {
					t.Fatalf("head %s, want %s", c, log[v.head].CID)
				}
				if s.Tombstoned() != v.tombstoned {
					t.Fatalf("tombstoned %v", s.Tombstoned())
				}
				if v.tombstoned {
					if s.Data() != nil {
						t.Fatal("tombstoned DID has data")
					}
					continue
				}
				d := s.Data()
				if d.DID != log[0].DID || !reflect.DeepEqual(d.AlsoKnownAs, v.aka) || d.PDSEndpoint() != v.pds {
					t.Fatalf("data %+v", d)
				}
				n := op.Normalize()
				if !reflect.DeepEqual(d.RotationKeys, n.RotationKeys) {
					t.Fatalf("rotation keys %v, want %v", d.RotationKeys, n.RotationKeys)
				}
				// Replayed operation by operation, the log ends the same.
				st := NewAuditState(log[0].DID, ValidateOptions{})
				for i, e := range log {
					at, _ := ParseTime(e.CreatedAt)
					op := e.Operation
					if _, err := st.Apply(&op, at); err != nil {
						t.Fatalf("replay %d: %v", i, err)
					}
				}
				if !reflect.DeepEqual(st.Entries(), s.Entries()) {
					t.Fatal("replayed log differs")
				}
				// Every entry's CID, DID and nullified flag agree with the log.
				for i, e := range s.Entries() {
					if e.CID != log[i].CID || e.Nullified != log[i].Nullified || e.DID != log[i].DID {
						t.Fatalf("entry %d: %+v", i, e)
					}
				}
			}
		})
	}
}

func TestVectorsInvalid(t *testing.T) {
	for _, v := range invalidVectors {
		t.Run(v.file, func(t *testing.T) {
			log := loadLog(t, v.file)
			_, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{})
			if !errors.Is(err, v.want) {
				t.Fatalf("got %v, want %v", err, v.want)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Index != v.index {
				t.Fatalf("error %v not at index %d", err, v.index)
			}
			// Replaying the log operation by operation, as a directory
			// receives them, accepts everything before the bad operation
			// and rejects it with the same error.
			st := NewAuditState(log[0].DID, ValidateOptions{})
			for i, e := range log[:v.index+1] {
				at, err := ParseTime(e.CreatedAt)
				if err != nil {
					t.Fatal(err)
				}
				op := e.Operation
				_, err = st.Apply(&op, at)
				if i < v.index && err != nil {
					t.Fatalf("replay %d: %v", i, err)
				}
				if i == v.index && !errors.Is(err, v.want) {
					t.Fatalf("replay %d: got %v, want %v", i, err, v.want)
				}
			}
		})
	}
}

func TestVectorDocument(t *testing.T) {
	log := loadLog(t, "log_legacy_dholms.json")
	s, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/golden/dholms_doc.json")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.Data().Document())
	var a, b any
	json.Unmarshal(want, &a)
	json.Unmarshal(got, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("document\n%s\nwant\n%s", got, want)
	}
}

// TestVectorCIDsAndDIDs checks every operation's CID and every genesis DID
// on its own, outside log validation.
func TestVectorCIDsAndDIDs(t *testing.T) {
	files, _ := filepath.Glob("testdata/didplc/log_*.json")
	if len(files) != 20 {
		t.Fatalf("%d vector files, want 20", len(files))
	}
	for _, f := range files {
		log := loadLog(t, filepath.Base(f))
		for i, e := range log {
			c, err := e.Operation.CID()
			if err != nil || c.String() != e.CID {
				t.Fatalf("%s[%d]: CID %v %v, want %s", f, i, c, err, e.CID)
			}
		}
		did, err := log[0].Operation.DID()
		if err != nil || did != log[0].DID {
			t.Fatalf("%s: DID %s %v, want %s", f, did, err, log[0].DID)
		}
	}
}

// TestNontrivialNullification replays log_nullification_nontrivial.json and
// checks what each operation nullifies, as its README describes ("after
// operation 6, only op 4 would be nullified; after operation 7, all
// operations 2-6"): operation 5 forks from 3 and nullifies 4; operation 7
// forks from 1 and nullifies 2, 3, 5 and 6 (4 already was).
func TestNontrivialNullification(t *testing.T) {
	log := loadLog(t, "log_nullification_nontrivial.json")
	s := NewAuditState(log[0].DID, ValidateOptions{})
	want := map[int][]int{5: {4}, 7: {2, 3, 5, 6}}
	for i, e := range log {
		op := e.Operation
		res, err := s.Apply(&op, mustTime(t, e.CreatedAt))
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		var got []int
		for _, c := range res.Nullified {
			for j := range log {
				if log[j].CID == c {
					got = append(got, j)
				}
			}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("op %d nullifies %v, want %v", i, got, want[i])
		}
	}
}

// TestVectorsOneVerificationPerOp: guessSigner picks the right key first
// on every operation of the vector logs (genesis signed by the last key,
// nullifications by the first, key rotations), serially and in chunks, so
// each operation costs one signature verification. Counted through the
// per-key attempt counters of a fresh KeyCache.
func TestVectorsOneVerificationPerOp(t *testing.T) {
	for _, v := range validVectors {
		log := loadLog(t, v.file)
		for _, workers := range []int{1, 2} {
			keys := &KeyCache{}
			if _, err := ValidateAuditLog(log[0].DID, log, ValidateOptions{Keys: keys, Workers: workers}); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, k := range keys.m {
				n += int(k.tries.Load())
			}
			if n != len(log) {
				t.Errorf("%s, workers=%d: %d verifications for %d operations", v.file, workers, n, len(log))
			}
		}
	}
}
