// The CustomResourceDefinitions of the third-party projects the operator works
// with (CloudNativePG, its Barman Cloud plugin, the Prometheus Operator),
// which its integration tests install into the test API server. The Go module
// proxy is the one way to get another project's files here, so each project
// is pinned below as a Go module; scripts/third-party-crds copies the CRD
// YAML out of Go's module cache. tools.go imports a small package of each so
// that `go mod tidy` keeps them; nothing here is built or imported by payrail.
module payrail.dev/tools/third-party-crds

go 1.26.6

require (
	github.com/cloudnative-pg/cloudnative-pg v1.30.1
	github.com/cloudnative-pg/plugin-barman-cloud v0.15.0
	github.com/prometheus-operator/prometheus-operator v0.94.1
)

require (
	github.com/alecthomas/kingpin/v2 v2.4.0 // indirect
	github.com/alecthomas/units v0.0.0-20240927000941-0f3dac36c52b // indirect
	github.com/cloudnative-pg/barman-cloud v0.6.0 // indirect
	github.com/cloudnative-pg/machinery v0.6.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.3 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/prometheus/common v0.71.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	github.com/xhit/go-str2duration/v2 v2.1.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	k8s.io/api v0.37.0 // indirect
	k8s.io/apimachinery v0.37.0 // indirect
	k8s.io/klog/v2 v2.140.0 // indirect
	k8s.io/kube-openapi v0.0.0-20260821135717-be32def86098 // indirect
	k8s.io/utils v0.0.0-20260707023825-cf1189d6abe3 // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v6 v6.4.2 // indirect
)
