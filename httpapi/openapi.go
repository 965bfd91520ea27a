package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPI is the OpenAPI 3.1 description of this API, served at
// GET /openapi.yaml. Its paths and methods are exactly the routes New
// registers: a test in deploy/openapi holds the two together and validates
// live requests and answers against it.
//
//go:embed openapi.yaml
var openAPI []byte

var yamlContentType = []string{"application/yaml"}

// handleOpenAPI answers GET /openapi.yaml with the embedded document. It is
// open, also with authentication on: it describes the API, not its data.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = yamlContentType
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(openAPI))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPI)
}
