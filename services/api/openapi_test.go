package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caseledger/caseledger/services/api"
)

// TestOpenAPIMatchesRoutes keeps docs/openapi.json and the routes the
// server registers in step: every route documented, nothing documented that
// is not served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, r := range api.Routes() {
		// The server names the path parameter {name}, {person}, {id}: the
		// document must use the same names.
		served = append(served, r.Method+" "+r.Pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !strings.HasPrefix(doc.OpenAPI, "3.") || !slices.Equal(documented, served) {
		t.Fatalf("docs/openapi.json documents\n%q\nthe server serves\n%q", documented, served)
	}
}
