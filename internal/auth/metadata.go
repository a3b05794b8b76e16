package auth

import (
	"encoding/json"
	"net/http"
)

// MetadataPath is where RFC 9728 puts protected-resource metadata.
const MetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the protected-resource metadata of RFC 9728 that MCP
// clients read to find the authorization server for Tollgate's endpoint.
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// Handler serves the metadata as JSON to GET (and HEAD) requests; resource
// returns the resource URL for the request (the front's /mcp URL).
func (md ResourceMetadata) Handler(resource func(r *http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		out := md
		if resource != nil {
			out.Resource = resource(r)
		}
		if out.BearerMethodsSupported == nil {
			out.BearerMethodsSupported = []string{"header"}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_ = json.NewEncoder(w).Encode(out)
	})
}
