package drisl

import (
	"reflect"

	"github.com/ipfs/go-cid"
)

// Blob is a reference to a blob (an image, a video, ...) in the atproto data
// model: the map {"$type": "blob", "ref": <link>, "mimeType": <string>,
// "size": <integer>}. Marshal writes a Blob as that map and Unmarshal reads
// it back, including the legacy form {"cid": <string>, "mimeType": <string>}
// of early records, which is read but never written.
type Blob struct {
	// Ref is the CID of the blob's bytes, with codec raw (CodecRaw).
	Ref cid.Cid
	// MimeType is the blob's declared media type; never empty.
	MimeType string
	// Size is the length of the blob in bytes, or -1 for a legacy blob,
	// which does not say. A Blob with a negative Size cannot be encoded.
	Size int64
}

var blobType = reflect.TypeOf(Blob{})

// IsLegacy reports whether b was read from the legacy {cid, mimeType} form.
func (b Blob) IsLegacy() bool { return b.Size < 0 }

// Value returns b in the generic value model: the map Marshal writes for it.
func (b Blob) Value() map[string]any {
	return map[string]any{"$type": "blob", "ref": b.Ref, "mimeType": b.MimeType, "size": b.Size}
}

// ParseBlob reads a blob from the generic value model: the blob map, with
// exactly the keys $type, ref, mimeType and size, or the legacy map with
// exactly the keys cid (a CID string) and mimeType; either as a
// map[string]any or as a Map (in DRISL order). It returns a
// *DataModelError with RuleBlob if v is neither.
func ParseBlob(v any) (Blob, error) {
	var n int
	switch m := v.(type) {
	case map[string]any:
		n = len(m)
	case Map:
		if m.orderError() != nil {
			return Blob{}, blobError("", "Map keys not in DRISL order")
		}
		n = len(m)
	default:
		return Blob{}, blobError("", "not a map")
	}
	get := func(key string) any {
		x, _ := lookup(v, key)
		return x
	}
	if x, legacy := lookup(v, "cid"); legacy && n == 2 {
		s, ok := x.(string)
		if !ok {
			return Blob{}, blobError("cid", "legacy blob cid is not a string")
		}
		c, err := cid.Decode(s)
		if err != nil {
			return Blob{}, blobError("cid", "legacy blob cid: "+err.Error())
		}
		mt, ok := get("mimeType").(string)
		if !ok || mt == "" {
			return Blob{}, blobError("mimeType", "mimeType is not a non-empty string")
		}
		return Blob{Ref: c, MimeType: mt, Size: -1}, nil
	}
	if t, ok := get("$type").(string); !ok || t != "blob" {
		return Blob{}, blobError("$type", `$type is not "blob"`)
	}
	if n != 4 {
		return Blob{}, blobError("", "a blob has exactly the keys $type, ref, mimeType and size")
	}
	ref, ok := get("ref").(cid.Cid)
	if !ok {
		return Blob{}, blobError("ref", "ref is not a link")
	}
	if ref.Type() != CodecRaw {
		return Blob{}, blobError("ref", "ref is not a raw-codec CID")
	}
	mt, ok := get("mimeType").(string)
	if !ok || mt == "" {
		return Blob{}, blobError("mimeType", "mimeType is not a non-empty string")
	}
	var size int64
	switch n := get("size").(type) {
	case int64:
		size = n
	case int:
		size = int64(n)
	default:
		return Blob{}, blobError("size", "size is not an integer")
	}
	if size < 0 {
		return Blob{}, blobError("size", "size is negative")
	}
	return Blob{Ref: ref, MimeType: mt, Size: size}, nil
}

func blobError(path, detail string) *DataModelError {
	return &DataModelError{Rule: RuleBlob, Path: path, Offset: -1, Detail: detail}
}

// blob writes b as the blob map; keys in DRISL order: ref, size, $type,
// mimeType.
func (e *encodeState) blob(b *Blob) error {
	if b.Size < 0 {
		return &EncodeError{Rule: RuleBlob, Detail: "a legacy blob (no size) is never written"}
	}
	if b.MimeType == "" {
		return &EncodeError{Rule: RuleBlob, Path: "mimeType", Detail: "empty mimeType"}
	}
	if err := e.enter(); err != nil {
		return err
	}
	e.depth--
	e.buf = append(e.buf, 0xa4, 0x63, 'r', 'e', 'f')
	if err := e.link(b.Ref); err != nil {
		return atPath(err, "ref")
	}
	e.buf = append(e.buf, 0x64, 's', 'i', 'z', 'e')
	e.int(b.Size)
	e.buf = append(e.buf, 0x65, '$', 't', 'y', 'p', 'e', 0x64, 'b', 'l', 'o', 'b', 0x68, 'm', 'i', 'm', 'e', 'T', 'y', 'p', 'e')
	return atPath(e.str(b.MimeType), "mimeType")
}
