package console

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// plistDict is an XML property list <dict>, its keys in the order given
// (a Go map would shuffle them, and the file should read the same each
// time). Every key and value goes through encoding/xml, so text from an
// account cannot open an element of its own.
type plistDict []plistEntry

// plistEntry is one key and its value: a string, int, bool, plistDict
// or []plistDict (an <array> of dicts).
type plistEntry struct {
	Key   string
	Value any
}

// plistHeader opens every Apple property list.
const plistHeader = xml.Header + `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n"

// marshalPlist writes d as a whole plist document.
func marshalPlist(d plistDict) ([]byte, error) {
	doc := struct {
		XMLName xml.Name `xml:"plist"`
		Version string   `xml:"version,attr"`
		Dict    plistDict
	}{Version: "1.0", Dict: d}
	var buf bytes.Buffer
	buf.WriteString(plistHeader)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// MarshalXML writes the dict as <dict>, whatever the field is named.
func (d plistDict) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	return plistValue(e, d)
}

func plistValue(e *xml.Encoder, v any) error {
	switch v := v.(type) {
	case string:
		return e.EncodeElement(v, plistTag("string"))
	case int:
		return e.EncodeElement(v, plistTag("integer"))
	case bool:
		// <true></true>: CoreFoundation's parser reads it as <true/>.
		return e.EncodeElement("", plistTag(fmt.Sprint(v)))
	case plistDict:
		return plistContainer(e, "dict", len(v), func(i int) error {
			if err := e.EncodeElement(v[i].Key, plistTag("key")); err != nil {
				return err
			}
			return plistValue(e, v[i].Value)
		})
	case []plistDict:
		return plistContainer(e, "array", len(v), func(i int) error { return plistValue(e, v[i]) })
	}
	return fmt.Errorf("plist: cannot encode a %T", v)
}

// plistContainer writes <name>, item(0) … item(n-1), </name>.
func plistContainer(e *xml.Encoder, name string, n int, item func(int) error) error {
	start := plistTag(name)
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for i := range n {
		if err := item(i); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func plistTag(name string) xml.StartElement { return xml.StartElement{Name: xml.Name{Local: name}} }
