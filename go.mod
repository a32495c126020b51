module mailgate

go 1.26.0

require (
	github.com/miekg/dns v1.1.73
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
