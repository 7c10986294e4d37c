//go:build tools

// Package tools is never built: its imports keep the modules whose CRDs
// scripts/third-party-crds copies required in go.mod (`go mod tidy` drops a
// requirement no package imports). Each is a small package of its module;
// the CRD files themselves are not Go and come from the module zips.
package tools

import (
	_ "github.com/cloudnative-pg/cloudnative-pg/pkg/versions"
	_ "github.com/cloudnative-pg/plugin-barman-cloud/api/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/versionutil"
)
