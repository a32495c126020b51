package api

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"mailgate/suppression"
)

type openAPIDoc struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPIRoutes: every operation the description lists is served
// (answered by its handler, 401 without a key, not the catch-all 404 or
// a 405), and a method it does not list is not.
func TestOpenAPIRoutes(t *testing.T) {
	keys, err := OpenKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Keys: keys, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for path, ops := range loadOpenAPI(t).Paths {
		p := strings.NewReplacer("{id}", "661dc3fbc2b3cf99507", "{address}", "a@example.org").Replace(path)
		for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(m, p, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			s.ServeHTTP(w, r)
			_, listed := ops[strings.ToLower(m)]
			if served := w.Code == http.StatusUnauthorized; served != listed {
				t.Errorf("%s %s: status %d, described: %v", m, path, w.Code, listed)
			}
		}
	}
}

// TestOpenAPIDescribesEveryRoute: each operation the server routes is in
// the description.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	s := &Server{}
	for _, rt := range s.routes() {
		if _, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]; !ok {
			t.Errorf("%s %s is served but not in openapi.yaml", rt.method, rt.path)
		}
	}
}

// TestOpenAPISchemas: the described fields are the JSON fields of the
// request and answer types, no more, no fewer.
func TestOpenAPISchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, v := range map[string]any{"Message": Request{}, "Attachment": Attachment{}, "Accepted": accepted{}, "Status": Status{}, "Suppression": suppression.Entry{}} {
		var described []string
		for f := range doc.Components.Schemas[name].Properties {
			described = append(described, f)
		}
		sort.Strings(described)
		if got := jsonFields(reflect.TypeOf(v)); !reflect.DeepEqual(got, described) {
			t.Errorf("schema %s: the type has %v, the description %v", name, got, described)
		}
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}
