package http

import (
	"net/http"
	"strings"

	"github.com/tandem-data/tandem"
)

// openapi describes Routes as OpenAPI 3.1: paths, methods, roles, the
// bearer scheme and the error shape every route shares.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *tandem.Token) error {
	paths := map[string]map[string]any{}
	for _, rt := range Routes {
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": strings.ToLower(rt.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(rt.Path),
			"responses": map[string]any{
				"2XX":     map[string]any{"description": "success", "content": map[string]any{"application/json": map[string]any{}}},
				"default": map[string]any{"$ref": "#/components/responses/Error"},
			},
		}
		if rt.Role != "" {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
			op["x-tandem-role"] = rt.Role
			op["description"] = "Needs a token with the " + rt.Role + " role or higher."
		}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		if paths[rt.Path] == nil {
			paths[rt.Path] = map[string]any{}
		}
		paths[rt.Path][strings.ToLower(rt.Method)] = op
	}
	codes := []string{tandem.EINVALID, tandem.EUNAUTHORIZED, tandem.EFORBIDDEN, tandem.ENOTFOUND, tandem.ECONFLICT, tandem.EUNAVAILABLE, tandem.EINTERNAL}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "Tandem API", "version": "v1"},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
			"responses": map[string]any{"Error": map[string]any{
				"description": "An error: invalid 400, unauthorized 401, forbidden 403, not_found 404, conflict 409, unavailable 503, internal 500",
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{
					"type": "object",
					"properties": map[string]any{"error": map[string]any{"type": "object", "properties": map[string]any{
						"code":    map[string]any{"type": "string", "enum": codes},
						"message": map[string]any{"type": "string"},
					}}},
				}}},
			}},
		},
	}
	return writeJSON(w, http.StatusOK, doc)
}
