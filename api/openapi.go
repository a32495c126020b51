package api

import _ "embed"

// OpenAPI is the OpenAPI 3 description of the API; openapi_test.go
// checks it against the handlers.
//
//go:embed openapi.yaml
var OpenAPI []byte
