package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder walks a YAML node tree into a struct, rejecting unknown keys and
// recording the line of every key path so that Validate can name it.
type decoder struct {
	file  string
	lines map[string]int
	errs  *Errors
}

// Unmarshaler lets a type decode itself from a scalar node; the error text
// is shown to the operator after "FILE:LINE: key.path: ".
type scalarDecoder interface {
	decodeScalar(value string) error
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == 0 { // an empty file, or only comments: all defaults
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if sd, ok := v.Addr().Interface().(scalarDecoder); ok {
		if n.Kind != yaml.ScalarNode {
			d.errs.add(d.file, n.Line, path, "expected a single value, not a list or mapping")
			return
		}
		if err := sd.decodeScalar(n.Value); err != nil {
			d.errs.add(d.file, n.Line, path, err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	default:
		if n.Kind != yaml.ScalarNode {
			d.errs.add(d.file, n.Line, path, fmt.Sprintf("expected %s, not a list or mapping", kindName(v.Kind())))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.errs.add(d.file, n.Line, path, fmt.Sprintf("%q is not %s", n.Value, kindName(v.Kind())))
		}
	}
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint16:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	}
	return "a " + k.String()
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if f, ok := v.Addr().Interface().(*Filters); ok {
		d.decodeFilters(n, f, path)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errs.add(d.file, n.Line, orFile(path), "expected a mapping of keys to values")
		return
	}
	fields := structFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		idx, ok := fields[k.Value]
		if !ok {
			if k.Value == "" {
				p = joinPath(path, `""`) // say what was written: an empty key
			}
			d.errs.add(d.file, k.Line, p, fmt.Sprintf("unknown key; valid keys here are: %s", strings.Join(sortedKeys(fields), ", ")))
			continue
		}
		if seen[k.Value] {
			d.errs.add(d.file, k.Line, p, "key given twice; keep one")
			continue
		}
		seen[k.Value] = true
		d.lines[p] = k.Line
		d.decode(val, v.Field(idx), p)
		d.lines[p] = k.Line
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errs.add(d.file, n.Line, path, "expected a list (- item)")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errs.add(d.file, n.Line, path, "expected a mapping of keys to values")
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.lines[p] = k.Line
		d.decode(val, elem, p)
		d.lines[p] = k.Line
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
}

// orFile names the whole file when a problem is at its root.
func orFile(path string) string {
	if path == "" {
		return "(file)"
	}
	return path
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields maps yaml key names to field indexes.
func structFields(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
