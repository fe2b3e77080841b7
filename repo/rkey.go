package repo

import "github.com/townhall-dev/townhall/internal/recordkey"

// checkRecordKey reports whether s is a record key under the syntax of
// https://atproto.com/specs/record-key (internal/recordkey: indigo's
// syntax.ParseRecordKey without its regular expression, which cost 4% of a
// bulk import; TestCheckRecordKeyVectors and FuzzCheckRecordKey hold it to
// indigo). A bad key gets a *recordkey.Error naming the rule and the byte.
func checkRecordKey(s string) error { return recordkey.Check(s) }
