package config

import "sort"

// Filters holds one block per filter; a listener lists which of them run.
type Filters struct{}

func defaultFilters() Filters { return Filters{} }

var filterNames = map[string]bool{}

// Known reports whether name is a filter a listener may list.
func (f *Filters) Known(name string) bool { return filterNames[name] }

// FilterNames lists every filter name, sorted.
func FilterNames() []string {
	names := make([]string, 0, len(filterNames))
	for n := range filterNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (f *Filters) validate(v *Validator, c *Config) {}
