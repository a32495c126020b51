package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FilterRegistry is the table of filters, which package filters owns
// (docs/filters.md): config knows no filter by name. Parse hands it every
// filter's block, written or not, and keeps what it returns.
type FilterRegistry interface {
	// FilterNames lists the names a listener's filters list may hold,
	// sorted.
	FilterNames() []string
	// CheckFilter decodes b over the filter's defaults, reports what is
	// wrong through b.Errorf, and returns the settings the filter is
	// built from.
	CheckFilter(b *FilterBlock) any
}

// Filters holds the filters: section. Each filter's block is kept as
// written, as a YAML node with its line, until the registry decodes it
// into the filter's own settings type.
type Filters struct {
	blocks   map[string]*yaml.Node
	settings map[string]any
	names    []string // the registry's, sorted
}

// Known reports whether name is a filter a listener may list.
func (f *Filters) Known(name string) bool { return slices.Contains(f.names, name) }

// Names lists the filters a listener may list, sorted.
func (f *Filters) Names() []string { return f.names }

// Settings returns what the registry decoded for filter name (its
// defaults when the file has no block for it), or nil for no such filter.
func (f *Filters) Settings(name string) any { return f.settings[name] }

// FilterBlock is one filter's block of the filters: section, handed to the
// registry with the means to decode it strictly and to report problems
// at their file and line.
type FilterBlock struct {
	Name string
	// Line is where the block's key is written; 0 when it is not.
	Line int
	node *yaml.Node
	d    *decoder
	v    *Validator
	c    *Config
}

// Path is the block's key path, filters.NAME, plus key when not empty.
func (b *FilterBlock) Path(key string) string {
	p := "filters." + b.Name
	if key == "" {
		return p
	}
	if strings.HasPrefix(key, "[") {
		return p + key
	}
	return p + "." + key
}

// Decode decodes the block into into (a pointer to a struct holding the
// defaults) as strictly as the rest of the file: unknown keys and values
// of the wrong type are reported at their line.
func (b *FilterBlock) Decode(into any) {
	if b.node == nil {
		return
	}
	b.d.decode(b.node, reflect.ValueOf(into).Elem(), b.Path(""))
}

// Errorf records a problem at key inside the block ("" for the block
// itself), saying what to write instead.
func (b *FilterBlock) Errorf(key, format string, args ...any) {
	b.v.Errorf(b.Path(key), format, args...)
}

// Listeners returns the listeners that list this filter.
func (b *FilterBlock) Listeners() []FilterUse {
	var uses []FilterUse
	for i, l := range b.c.Listeners {
		pos := map[string]int{}
		for j, name := range l.Filters {
			if _, ok := pos[name]; !ok {
				pos[name] = j
			}
		}
		if j, ok := pos[b.Name]; ok {
			uses = append(uses, FilterUse{Listener: l, pos: pos, at: j, path: fmt.Sprintf("listeners[%d].filters[%d]", i, j), v: b.v})
		}
	}
	return uses
}

// FilterUse is one listener's use of a filter, for checks that depend on
// the other filters of its list.
type FilterUse struct {
	Listener Listener
	pos      map[string]int
	at       int
	path     string
	v        *Validator
}

// Before reports whether the listener lists filter name before this one.
func (u FilterUse) Before(name string) bool {
	k, ok := u.pos[name]
	return ok && k < u.at
}

// Lists reports whether the listener lists filter name anywhere.
func (u FilterUse) Lists(name string) bool {
	_, ok := u.pos[name]
	return ok
}

// Errorf records a problem at the filter's place in the listener's list.
func (u FilterUse) Errorf(format string, args ...any) {
	u.v.Errorf(u.path, format, args...)
}

// check asks reg for every filter's settings, and checks the listeners'
// lists for filters listed twice (validateListeners finds unknown names).
func (f *Filters) check(v *Validator, d *decoder, c *Config, reg FilterRegistry) {
	f.settings = map[string]any{}
	for _, name := range f.names {
		b := &FilterBlock{Name: name, node: f.blocks[name], d: d, v: v, c: c}
		if b.node != nil {
			b.Line = d.lines[b.Path("")]
		}
		f.settings[name] = reg.CheckFilter(b)
	}
	for i, l := range c.Listeners {
		seen := map[string]bool{}
		for j, name := range l.Filters {
			p := fmt.Sprintf("listeners[%d].filters[%d]", i, j)
			if seen[name] {
				v.Errorf(p, "%s is listed twice; list each filter once", name)
			}
			seen[name] = true
		}
	}
}

// decodeFilters keeps each block of the filters: section as a node, after
// checking that its key names a filter.
func (d *decoder) decodeFilters(n *yaml.Node, f *Filters, path string) {
	if n.Kind == yaml.SequenceNode {
		d.filterList(n, f, path)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errs.add(d.file, n.Line, path, "expected a mapping of keys to values")
		return
	}
	f.blocks = map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		switch {
		case !f.Known(k.Value):
			d.errs.add(d.file, k.Line, p, "unknown key; valid keys here are: "+strings.Join(f.names, ", "))
		case f.blocks[k.Value] != nil:
			d.errs.add(d.file, k.Line, p, "key given twice; keep one")
		default:
			d.lines[p] = k.Line
			if val.Kind == yaml.AliasNode {
				val = val.Alias
			}
			f.blocks[k.Value] = val
		}
	}
}

// filterList reports a list written where the filters' settings go
// (filters: [dmarc, spff]): the operator meant the filters a listener
// runs, so each name is checked as a listener's list would be, and the
// message says where such a list belongs.
func (d *decoder) filterList(n *yaml.Node, f *Filters, path string) {
	d.errs.add(d.file, n.Line, path, "here each filter's settings go, as a mapping (spf: {...}); "+
		"the list of filters to run goes on each SMTP listener, as listeners[N].filters: [...]")
	for i, item := range n.Content {
		if item.Kind != yaml.ScalarNode || !f.Known(item.Value) {
			d.errs.add(d.file, item.Line, fmt.Sprintf("%s[%d]", path, i),
				fmt.Sprintf("%q is not a filter; write one of %s", item.Value, strings.Join(f.names, ", ")))
		}
	}
}
