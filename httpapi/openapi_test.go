package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"testing"
)

// TestOpenAPIServed: the document is served open, as YAML, as embedded.
// deploy/openapi validates it, compares it with the routes and validates
// live answers against it.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/openapi.yaml", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: %d", rec.Code)
	}
	if got, want := rec.Header().Get("Content-Type"), "application/yaml"; got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.Body.Bytes(), file) || !bytes.HasPrefix(file, []byte("openapi: 3.1.")) {
		t.Errorf("the answer is not the OpenAPI 3.1 document httpapi/openapi.yaml")
	}
}
