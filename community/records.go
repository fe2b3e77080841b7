package community

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
)

// The records this package writes, as DRISL structs. Field names follow the
// lexicons in lexicons/dev/townhall/community.

type profileRecord struct {
	Type        string   `cbor:"$type"`
	Name        string   `cbor:"name"`
	Description string   `cbor:"description,omitempty"`
	Founders    []string `cbor:"founders,omitempty"`
	JoinRole    string   `cbor:"joinRole,omitempty"`
	CreatedAt   string   `cbor:"createdAt"`
}

type roleRecord struct {
	Type        string   `cbor:"$type"`
	Name        string   `cbor:"name"`
	Commands    []string `cbor:"commands"`
	Collections []string `cbor:"collections,omitempty"`
	Audiences   []string `cbor:"audiences,omitempty"`
	Moderator   bool     `cbor:"moderator,omitempty"`
	CreatedAt   string   `cbor:"createdAt"`
}

type grantRecord struct {
	Type      string  `cbor:"$type"`
	Token     []byte  `cbor:"token"`
	TokenCID  cid.Cid `cbor:"tokenCid"`
	Issuer    string  `cbor:"issuer"`
	Audience  string  `cbor:"audience"`
	Subject   string  `cbor:"subject,omitempty"`
	Member    string  `cbor:"member,omitempty"`
	Command   string  `cbor:"command"`
	Role      string  `cbor:"role,omitempty"`
	ExpiresAt string  `cbor:"expiresAt,omitempty"`
	CreatedAt string  `cbor:"createdAt"`
}

type bindingRecord struct {
	Type        string `cbor:"$type"`
	Member      string `cbor:"member"`
	SessionKey  string `cbor:"sessionKey"`
	ServiceAuth string `cbor:"serviceAuth"`
	Proof       []byte `cbor:"proof"`
	CreatedAt   string `cbor:"createdAt"`
}

type revocationRecord struct {
	Type       string  `cbor:"$type"`
	Delegation cid.Cid `cbor:"delegation"`
	Invocation []byte  `cbor:"invocation"`
	Reason     string  `cbor:"reason,omitempty"`
	CreatedAt  string  `cbor:"createdAt"`
}

type banRecord struct {
	Type      string `cbor:"$type"`
	Member    string `cbor:"member"`
	Reason    string `cbor:"reason,omitempty"`
	CreatedAt string `cbor:"createdAt"`
}

type audienceRecord struct {
	Type      string   `cbor:"$type"`
	Name      string   `cbor:"name"`
	Root      cid.Cid  `cbor:"root"`
	Readers   []string `cbor:"readers,omitempty"`
	UpdatedAt string   `cbor:"updatedAt"`
}

// Receipt is the evidence of one write, as stored in the receipt collection
// (public records) or in the audience's private tree (private records), at
// ReceiptKey(path): which invocation wrote the path, and the member the
// community bound its issuer to. The invocation token itself is stored once
// per request, as an invocation record (key InvocationKey(Invocation)) in
// the same tree; its arguments say what it wrote (action, path, record CID,
// audience). Every write of one request therefore has the same receipt
// bytes, stored as one block.
type Receipt struct {
	Type string `cbor:"$type"`
	// Invocation is the CID of the invocation token (DRISL) that wrote the
	// path.
	Invocation cid.Cid `cbor:"invocation"`
	Author     string  `cbor:"author"`
	CreatedAt  string  `cbor:"createdAt"`
}

// invocationRecord holds one executed invocation token
// (dev.townhall.community.invocation, key InvocationKey(token CID)).
type invocationRecord struct {
	Type      string `cbor:"$type"`
	Token     []byte `cbor:"token"`
	CreatedAt string `cbor:"createdAt"`
}

// InvocationKey returns the record key of the invocation record of the
// invocation token whose CID is c: the CID's string form.
func InvocationKey(c cid.Cid) string { return c.String() }

// InvocationPath returns the MST key of the invocation record of c.
func InvocationPath(c cid.Cid) string { return NSIDInvocation + "/" + InvocationKey(c) }

var receiptEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ReceiptKey returns the record key of the receipt of the record at path
// ("collection/rkey"): 16 lower-case base32 characters of
// SHA-256(collection), "~", and the record key, so that receipts sort like
// the records they describe (a commit of consecutive records, such as TIDs,
// rewrites a few MST nodes for their receipts, not one path per receipt);
// for a record key too long for that (more than 495 characters), 32
// lower-case base32 characters of SHA-256(path), without "~". Either way a
// record's receipt is found (and proved) from its path alone; each write of
// the path replaces the receipt, which always describes the record's
// current version (or its deletion).
func ReceiptKey(path string) string { return receiptPathOf(path, nil)[len(NSIDReceipt)+1:] }

// receiptPrefix is a collection and the prefix of its receipts' keys.
type receiptPrefix struct{ collection, prefix string }

// receiptPathOf is ReceiptPath(path) in one allocation (its receipt key is
// the string after NSIDReceipt + "/"); memo, if not nil, holds the last
// collection's key prefix (most requests write one collection), saving its
// SHA-256.
func receiptPathOf(path string, memo *atomic.Pointer[receiptPrefix]) string {
	coll, rkey, ok := strings.Cut(path, "/")
	if !ok || len(rkey) > maxRecordKeyBytes-receiptPrefixLen-1 {
		sum := sha256.Sum256([]byte(path))
		return NSIDReceipt + "/" + lowerBase32(sum[:20])
	}
	var prefix string
	if memo != nil {
		if m := memo.Load(); m != nil && m.collection == coll {
			prefix = m.prefix
		}
	}
	if prefix == "" {
		sum := sha256.Sum256([]byte(coll))
		prefix = lowerBase32(sum[:10])
		if memo != nil {
			memo.Store(&receiptPrefix{strings.Clone(coll), prefix})
		}
	}
	var b strings.Builder // one allocation: String does not copy
	b.Grow(len(NSIDReceipt) + 1 + receiptPrefixLen + 1 + len(rkey))
	b.WriteString(NSIDReceipt + "/")
	b.WriteString(prefix)
	b.WriteByte('~')
	b.WriteString(rkey)
	return b.String()
}

const (
	maxRecordKeyBytes = 512 // atproto's limit on a record key
	receiptPrefixLen  = 16  // base32 characters of 10 bytes
)

func lowerBase32(p []byte) string {
	b := receiptEncoding.AppendEncode(nil, p)
	for i, ch := range b {
		if ch >= 'A' && ch <= 'Z' {
			b[i] = ch + ('a' - 'A')
		}
	}
	return string(b)
}

// ReceiptPath returns the MST key of the receipt of the record at path.
func ReceiptPath(path string) string { return receiptPathOf(path, nil) }

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
