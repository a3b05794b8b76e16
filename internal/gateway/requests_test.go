package gateway_test

import (
	"context"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// fileServer is an in-process Go SDK server that serves files as
// resources (file:///etc/passwd, file:///srv/notes.txt) and a prompt.
func fileServer(t *testing.T) transport.Dialer {
	return transport.DialFunc(func(context.Context, *transport.Session) (transport.Conn, func(), error) {
		conn, tr, closeAll := pipes(t)
		srv := sdk.NewServer(&sdk.Implementation{Name: "files", Version: "1"}, nil)
		for _, uri := range []string{"file:///etc/passwd", "file:///srv/notes.txt"} {
			srv.AddResource(&sdk.Resource{URI: uri, Name: uri}, func(_ context.Context, r *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
				return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: r.Params.URI, Text: "contents of " + r.Params.URI}}}, nil
			})
		}
		for _, name := range []string{"review", "admin"} {
			srv.AddPrompt(&sdk.Prompt{Name: name}, func(context.Context, *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
				return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: "the " + name + " prompt"}}}}, nil
			})
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.Run(ctx, tr)
		}()
		return conn, func() { cancel(); closeAll(); <-done }, nil
	})
}

// The requests section works on both levels of a gateway: the gateway-wide
// policy judges resources/read by URI (resources keep their URIs) and
// prompts/get by the namespaced name; a server's own policy judges by its
// own names.
func TestGatewayRequestsRules(t *testing.T) {
	hub := allowGate(t, `version: "1"
requests:
  resources/read:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.uri, op: path_within, value: /etc}]
`)
	own := allowGate(t, `version: "1"
requests:
  prompts/get:
    rules:
      - name: no admin
        action: deny
        conditions: [{path: args.name, op: eq, value: admin}]
`)
	gw, err := gateway.New([]*gateway.Server{{Name: "files", Gate: own, Dial: fileServer(t)}}, gateway.Options{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cs, end := serveOne(t, gw)
	defer end()
	if _, err := cs.ListResources(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "file:///etc/passwd"}); err == nil || !strings.Contains(err.Error(), `refused by Tollgate's policy: denied by rule "no etc"`) {
		t.Errorf("read of /etc/passwd: %v", err)
	}
	if r, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: "file:///srv/notes.txt"}); err != nil || r.Contents[0].Text != "contents of file:///srv/notes.txt" {
		t.Errorf("read of notes: %v %+v", err, r)
	}
	if _, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "files__admin"}); err == nil || !strings.Contains(err.Error(), `refused by Tollgate's policy: denied by rule "no admin"`) {
		t.Errorf("prompt admin: %v", err)
	}
	if r, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "files__review"}); err != nil || len(r.Messages) != 1 {
		t.Errorf("prompt review: %v %+v", err, r)
	}
}
