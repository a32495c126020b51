package config

// openFilters is a registry for config's own tests, which cannot import
// package filters (it imports config): it knows the names the embedded
// default lists and decodes any block into a map.
type openFilters struct{}

func (openFilters) FilterNames() []string { return []string{"ratelimit", "sender_policy"} }

func (openFilters) CheckFilter(b *FilterBlock) any {
	m := map[string]any{}
	b.Decode(&m)
	return m
}
