package drisl_test

import (
	"errors"
	"fmt"

	"github.com/townhall-dev/townhall/drisl"
)

// A record as the generic value model, encoded to DRISL with its CID.
func ExampleMarshalCID() {
	post := map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      "hello, community",
		"createdAt": "2024-05-01T12:00:00.000Z",
	}
	data, c, err := drisl.MarshalCID(post)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes, first key %q\n", len(data), data[2:6]) // keys sort length-first
	fmt.Println(c)
	// Output:
	// 84 bytes, first key "text"
	// bafyreig7vvkn6xtxxbsq2k4lvhojswi7z5wnc3pla2tlqsukgi4izeom4m
}

// Strict decoding names the broken rule and the byte offset.
func ExampleUnmarshal_strict() {
	// {"b": 1, "a": 2}: keys out of DRISL order.
	data := []byte{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x02}
	var v any
	err := drisl.Unmarshal(data, &v)
	var se *drisl.SyntaxError
	if errors.As(err, &se) {
		fmt.Println(se.Rule, "at offset", se.Offset)
	}
	// Output:
	// map keys not sorted length-first then bytewise at offset 4
}

// Decoding into a struct with cbor tags.
func ExampleUnmarshal_struct() {
	type like struct {
		Type      string            `cbor:"$type"`
		Subject   map[string]string `cbor:"subject"`
		CreatedAt string            `cbor:"createdAt"`
	}
	data, _ := drisl.Marshal(map[string]any{
		"$type":     "app.bsky.feed.like",
		"subject":   map[string]any{"uri": "at://did:plc:abc/app.bsky.feed.post/3k", "cid": "bafyrei..."},
		"createdAt": "2024-05-01T12:00:00.000Z",
	})
	var l like
	if err := drisl.Unmarshal(data, &l); err != nil {
		panic(err)
	}
	fmt.Println(l.Type, l.Subject["uri"])
	// Output:
	// app.bsky.feed.like at://did:plc:abc/app.bsky.feed.post/3k
}

// atproto JSON to DRISL and back, with a link, bytes and a blob.
func ExampleUnmarshalJSON() {
	in := []byte(`{
		"$type": "com.example.record",
		"prev": {"$link": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},
		"sig": {"$bytes": "AQID"},
		"image": {"$type": "blob", "ref": {"$link": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"}, "mimeType": "image/jpeg", "size": 10000}
	}`)
	v, err := drisl.UnmarshalJSON(in)
	if err != nil {
		panic(err)
	}
	if err := drisl.CheckRecord(v); err != nil {
		panic(err)
	}
	blob, _ := drisl.ParseBlob(v.(map[string]any)["image"])
	fmt.Println(blob.MimeType, blob.Size)
	out, _ := drisl.MarshalJSON(v)
	fmt.Println(string(out))
	// Output:
	// image/jpeg 10000
	// {"sig":{"$bytes":"AQID"},"prev":{"$link":"bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},"$type":"com.example.record","image":{"ref":{"$link":"bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},"size":10000,"$type":"blob","mimeType":"image/jpeg"}}
}

// The atproto checker rejects floats, which DRISL itself allows.
func ExampleCheckAtproto() {
	err := drisl.CheckAtproto(map[string]any{"$type": "com.example.x", "score": 0.5})
	var de *drisl.DataModelError
	if errors.As(err, &de) {
		fmt.Println(de.Rule, "at", de.Path)
	}
	// Output:
	// float in atproto data at score
}

// Raw keeps the exact bytes of a nested item, for example to check a
// signature over them.
func ExampleRaw() {
	data, _ := drisl.Marshal(map[string]any{"sig": []byte{1, 2}, "data": map[string]any{"n": int64(1)}})
	var env struct {
		Data drisl.Raw `cbor:"data"`
		Sig  []byte    `cbor:"sig"`
	}
	if err := drisl.Unmarshal(data, &env); err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", []byte(env.Data))
	// Output:
	// a1616e01
}

// UnmarshalFirst reads a sequence of items, such as an event-stream frame:
// a header item followed by a body item.
func ExampleUnmarshalFirst() {
	header, _ := drisl.Marshal(map[string]any{"op": int64(1), "t": "#commit"})
	body, _ := drisl.Marshal(map[string]any{"seq": int64(42)})
	frame := append(header, body...)

	var h struct {
		Op int64  `cbor:"op"`
		T  string `cbor:"t"`
	}
	rest, err := drisl.UnmarshalFirst(frame, &h)
	if err != nil {
		panic(err)
	}
	var b map[string]any
	if err := drisl.Unmarshal(rest, &b); err != nil {
		panic(err)
	}
	fmt.Println(h.T, b["seq"])
	// Output:
	// #commit 42
}

// The ordered generic value model: maps decode as Map, their entries in
// DRISL key order (length-first, then bytewise), as on the wire.
func ExampleMap() {
	data, _ := drisl.Marshal(map[string]any{
		"$type": "app.bsky.feed.post",
		"text":  "hello",
		"langs": []any{"en"},
		"reply": map[string]any{"root": "at://...", "parent": "at://..."},
	})
	var v any
	if err := (drisl.DecOptions{OrderedMaps: true}).Unmarshal(data, &v); err != nil {
		panic(err)
	}
	post := v.(drisl.Map)
	for i, e := range post {
		if i > 0 {
			fmt.Print(" ")
		}
		fmt.Print(e.Key)
	}
	fmt.Println()
	text, _ := post.Get("text")
	fmt.Println(text)

	// Set keeps the order; Marshal writes a Map without sorting and
	// refuses one whose keys are out of order.
	post.Set("createdAt", "2024-05-01T12:00:00.000Z")
	if _, err := drisl.Marshal(post); err != nil {
		panic(err)
	}
	_, err := drisl.Marshal(drisl.Map{{Key: "$type", Value: "y"}, {Key: "text", Value: "x"}})
	var ee *drisl.EncodeError
	if errors.As(err, &ee) {
		fmt.Println(ee.Rule, "at", ee.Path)
	}
	// Output:
	// text $type langs reply
	// hello
	// map keys not sorted length-first then bytewise at "text"
}
