package lexicon_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing/fstest"

	"github.com/townhall-dev/townhall/lexicon"
)

const chatMessage = `{
  "lexicon": 1,
  "id": "town.example.chat.message",
  "defs": {
    "main": {
      "type": "record",
      "key": "tid",
      "record": {
        "type": "object",
        "required": ["text", "createdAt"],
        "properties": {
          "text": {"type": "string", "maxGraphemes": 10, "maxLength": 100},
          "createdAt": {"type": "string", "format": "datetime"},
          "attachments": {"type": "array", "maxLength": 4, "items": {"type": "ref", "ref": "#attachment"}}
        }
      }
    },
    "attachment": {
      "type": "object",
      "required": ["alt"],
      "properties": {"alt": {"type": "string", "maxLength": 20}}
    }
  }
}`

// A community validates a member's record against the schemas it embeds
// (here an in-memory fs.FS; an embed.FS works the same way).
func ExampleCatalog_ValidateRecord() {
	ctx := context.Background()
	schemas := fstest.MapFS{"lexicons/town/example/chat/message.json": {Data: []byte(chatMessage)}}

	cat, err := lexicon.LoadCatalog(ctx, schemas, "lexicons", lexicon.CatalogOptions{})
	if err != nil {
		panic(err)
	}

	record := map[string]any{
		"$type":     "town.example.chat.message",
		"text":      "hi 👋",
		"createdAt": "2026-11-20T23:15:04Z",
		"attachments": []any{
			map[string]any{"alt": "a cat"},
			map[string]any{"alt": "a very long alt text indeed"},
		},
	}
	err = cat.ValidateRecord(ctx, "town.example.chat.message", "3l6oveex3ii2l", record, lexicon.ValidateOptions{})
	fmt.Println(err)

	var ve *lexicon.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Path, ve.Constraint)
	}

	err = cat.ValidateRecord(ctx, "town.example.chat.message", "self", record, lexicon.ValidateOptions{})
	fmt.Println(err)
	// Output:
	// lexicon: attachments[1].alt: maxLength: 27 UTF-8 bytes, more than 20
	// attachments[1].alt maxLength
	// lexicon: key: record key "self" is not a TID
}

// Bad schemas are rejected with the path of the fault.
func ExampleParseSchema() {
	_, err := lexicon.ParseSchema([]byte(`{"lexicon": 1, "id": "town.example.bad", "defs": {
	  "main": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 1}}}}}`))
	fmt.Println(err)
	// Output:
	// lexicon: invalid schema town.example.bad at defs.main.properties.n.minimum: minimum 5 greater than maximum 1
}

const getMessages = `{
  "lexicon": 1,
  "id": "town.example.chat.getMessages",
  "defs": {
    "main": {
      "type": "query",
      "parameters": {
        "type": "params",
        "required": ["channel"],
        "properties": {
          "channel": {"type": "string", "format": "record-key"},
          "limit": {"type": "integer", "minimum": 1, "maximum": 100},
          "reverse": {"type": "boolean"}
        }
      },
      "output": {"encoding": "application/json", "schema": {"type": "object", "properties": {}}}
    }
  }
}`

// A host turns the query string of an XRPC call into typed, validated
// parameters.
func ExampleCatalog_ParseParams() {
	ctx := context.Background()
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	if err := cat.AddJSON([]byte(getMessages)); err != nil {
		panic(err)
	}
	q, _ := url.ParseQuery("channel=general&limit=20&reverse=true")
	params, err := cat.ParseParams(ctx, "town.example.chat.getMessages", q, lexicon.ValidateOptions{})
	fmt.Println(params["channel"], params["limit"], params["reverse"], err)

	q, _ = url.ParseQuery("channel=general&limit=500")
	_, err = cat.ParseParams(ctx, "town.example.chat.getMessages", q, lexicon.ValidateOptions{})
	fmt.Println(err)
	// Output:
	// general 20 true <nil>
	// lexicon: limit: maximum: 500 is more than 100
}

// A Resolver supplies schemas the catalog does not hold, for example from the
// network; here, from a map. The catalog asks once per NSID and keeps the
// answer.
func ExampleResolverFunc() {
	ctx := context.Background()
	remote := map[string]string{
		"town.example.defs": `{"lexicon": 1, "id": "town.example.defs", "defs": {
		  "mood": {"type": "string", "enum": ["happy", "sad"]}}}`,
	}
	resolver := lexicon.ResolverFunc(func(ctx context.Context, nsid string) ([]byte, error) {
		s, ok := remote[nsid]
		if !ok {
			return nil, fmt.Errorf("no lexicon for %s", nsid)
		}
		return []byte(s), nil
	})
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{Resolver: resolver})
	err := cat.AddJSON([]byte(`{"lexicon": 1, "id": "town.example.status", "defs": {"main": {
	  "type": "record", "key": "literal:self",
	  "record": {"type": "object", "properties": {"mood": {"type": "ref", "ref": "town.example.defs#mood"}}}}}}`))
	if err != nil {
		panic(err)
	}
	status := map[string]any{"$type": "town.example.status", "mood": "bored"}
	fmt.Println(cat.ValidateRecord(ctx, "town.example.status", "self", status, lexicon.ValidateOptions{}))
	fmt.Println(cat.NSIDs())
	// Output:
	// lexicon: mood: enum: "bored" is not one of the allowed values
	// [town.example.defs town.example.status]
}

// Subscription messages are validated against the subscription's message
// union, with the type from the event-stream frame header.
func ExampleCatalog_ValidateMessage() {
	ctx := context.Background()
	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	err := cat.AddJSON([]byte(`{"lexicon": 1, "id": "town.example.subscribeEvents", "defs": {
	  "main": {"type": "subscription", "message": {"schema": {"type": "union", "refs": ["#joined"]}}},
	  "joined": {"type": "object", "required": ["seq", "did"], "properties": {
	    "seq": {"type": "integer", "minimum": 0}, "did": {"type": "string", "format": "did"}}}}}`))
	if err != nil {
		panic(err)
	}
	msg := map[string]any{"seq": int64(7), "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}
	fmt.Println(cat.ValidateMessage(ctx, "town.example.subscribeEvents", "#joined", msg, lexicon.ValidateOptions{}))
	msg["did"] = "alice"
	fmt.Println(cat.ValidateMessage(ctx, "town.example.subscribeEvents", "#joined", msg, lexicon.ValidateOptions{}))
	// Output:
	// <nil>
	// lexicon: did: format: not a valid did
}
