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

	cat := lexicon.NewCatalog(lexicon.CatalogOptions{})
	if err := cat.LoadFS(ctx, schemas, "lexicons"); err != nil {
		panic(err)
	}
	if err := cat.CheckRefs(ctx); err != nil {
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
	err := cat.ValidateRecord(ctx, "town.example.chat.message", "3l6oveex3ii2l", record, lexicon.ValidateOptions{})
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
