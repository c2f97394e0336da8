package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/google/uuid"
)

// The limits domain/validate.go applies when a field's tag names none.
const (
	defaultMaxString = 4096
	defaultMaxItems  = 1000
)

// Patterns for values the Go types check but JSON Schema has no format for.
const (
	sha256Pattern = "^[0-9a-fA-F]{64}$"
	// nonBlank is what cl:"required" means for a string: not only spaces.
	nonBlank = `\S`
)

var (
	uuidType = reflect.TypeFor[uuid.UUID]()
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// obj is a JSON Schema (or AsyncAPI) object; encoding/json writes its keys
// sorted, which keeps the output stable.
type obj = map[string]any

// clTag is a field's cl struct tag, read the way domain/validate.go reads it.
type clTag struct {
	required, personal, sha256 bool
	subject                    bool // the event's personal values are about this party
	hasMin, hasMax             bool
	min, max                   int64
}

func parseCL(tag string) (clTag, error) {
	var c clTag
	if tag == "" {
		return c, nil
	}
	for opt := range strings.SplitSeq(tag, ",") {
		key, val, _ := strings.Cut(opt, "=")
		var err error
		switch key {
		case "required":
			c.required = true
		case "personal":
			c.personal = true
		case "sha256":
			c.sha256 = true
		case "subject":
			c.subject = true
		case "max":
			c.max, err = strconv.ParseInt(val, 10, 64)
			c.hasMax = c.max != 0 // validate.go reads max=0 as "the default"
		case "min":
			c.min, err = strconv.ParseInt(val, 10, 64)
			c.hasMin = true
		default:
			return c, fmt.Errorf("unknown cl option %q", key)
		}
		if err != nil {
			return c, fmt.Errorf("cl option %q: %w", opt, err)
		}
	}
	return c, nil
}

// field is one JSON member of a struct, after encoding/json's flattening of
// embedded structs.
type field struct {
	name   string // JSON name
	goName string
	typ    reflect.Type
	omit   bool // omitempty or omitzero: absent when zero
	cl     clTag
}

// fields lists the JSON members of struct t in declaration order, embedded
// structs flattened in place as encoding/json does. Two members with one
// JSON name are an error: encoding/json would silently drop or shadow one of
// them, and a schema cannot say which.
func fields(t reflect.Type) ([]field, error) {
	var out []field
	if err := collect(t, &out); err != nil {
		return nil, err
	}
	seen := map[string]field{}
	for _, f := range out {
		if prev, ok := seen[f.name]; ok {
			return nil, fmt.Errorf("%s: JSON name %q is used by both %s and %s", t, f.name, prev.goName, f.goName)
		}
		seen[f.name] = f
	}
	return out, nil
}

func collect(t reflect.Type, out *[]field) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if sf.Anonymous && name == "" {
			if sf.Type.Kind() != reflect.Struct || !sf.IsExported() {
				return fmt.Errorf("%s: embedded %s: only exported structs are flattened", t, sf.Type)
			}
			if err := collect(sf.Type, out); err != nil {
				return err
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		c, err := parseCL(sf.Tag.Get("cl"))
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t, sf.Name, err)
		}
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			omit = omit || o == "omitempty" || o == "omitzero"
		}
		*out = append(*out, field{name: name, goName: t.Name() + "." + sf.Name, typ: sf.Type, omit: omit, cl: c})
	}
	return nil
}

// builder turns Go types into one JSON Schema document: named structs and
// enums go to the document's $defs, referenced as #/$defs/<Go name>.
type builder struct {
	defs     obj
	defTypes map[string]reflect.Type
	// output marks a type caseledger writes and never decodes (the Outcome,
	// a relayed event): every member it always writes is required.
	output bool
	// overrides replace the schema of named members of the root type, for
	// what a Go type does not say (a string holding a uuid).
	overrides map[string]obj
}

func newBuilder() *builder {
	return &builder{defs: obj{}, defTypes: map[string]reflect.Type{}}
}

// root returns the schema document of struct t with its $defs.
func (b *builder) root(t reflect.Type, annotations obj) (obj, error) {
	s, err := b.object(t, b.overrides)
	if err != nil {
		return nil, err
	}
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$comment"] = "Generated from the Go type " + t.String() + " by `go run ./cmd/caseledger schemas`: do not edit."
	s["title"] = t.Name()
	for k, v := range annotations {
		s[k] = v
	}
	if len(b.defs) > 0 {
		s["$defs"] = b.defs
	}
	return s, nil
}

// object is the schema of a struct: closed (the decoder refuses unknown
// fields), with its required members.
func (b *builder) object(t reflect.Type, overrides map[string]obj) (obj, error) {
	fs, err := fields(t)
	if err != nil {
		return nil, err
	}
	props := obj{}
	required := []string{}
	used := map[string]bool{}
	for _, f := range fs {
		var s obj
		if o, ok := overrides[f.name]; ok {
			s, used[f.name] = o, true
		} else if s, err = b.member(f); err != nil {
			return nil, err
		}
		props[f.name] = s
		if f.cl.required || (b.output && !f.omit) {
			required = append(required, f.name)
		}
	}
	for name := range overrides {
		if !used[name] {
			return nil, fmt.Errorf("%s: override for %q, which is not a member", t, name)
		}
	}
	s := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s, nil
}

// member is the schema of one struct member.
func (b *builder) member(f field) (obj, error) {
	s, err := b.value(f.typ, f.cl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.goName, err)
	}
	if f.typ.Kind() == reflect.Slice && f.typ != rawType && !f.omit && !f.cl.required {
		// encoding/json writes a nil list as null.
		s["type"] = []any{"array", "null"}
	}
	if f.cl.personal {
		s["x-personal-data"] = true
	}
	if f.cl.subject {
		s["x-personal-data-subject"] = true
	}
	return s, nil
}

// value is the schema of a value of type t under the rules of tag c, mirroring
// domain/validate.go: strings and lists get the default limits when the tag
// names none, a list's items are required (no blank item), and behind a
// pointer to a scalar only required-ness survives.
func (b *builder) value(t reflect.Type, c clTag) (obj, error) {
	switch t {
	case timeType:
		return obj{"type": "string", "format": "date-time"}, nil
	case uuidType:
		return obj{"type": "string", "format": "uuid"}, nil
	case rawType:
		return obj{}, nil // any JSON value; the caller says which
	}
	if values, ok := domain.EnumValues(t); ok {
		if err := b.define(t, func() (obj, error) {
			return obj{"type": "string", "enum": values, "title": t.Name()}, nil
		}); err != nil {
			return nil, err
		}
		return obj{"$ref": "#/$defs/" + t.Name()}, nil
	}
	switch t.Kind() {
	case reflect.String:
		s := obj{"type": "string", "maxLength": c.max}
		if !c.hasMax {
			s["maxLength"] = int64(defaultMaxString)
		}
		switch {
		case c.sha256:
			s["pattern"] = sha256Pattern
		case c.required:
			s["minLength"] = int64(1)
			s["pattern"] = nonBlank
		}
		return s, nil
	case reflect.Bool:
		return obj{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s := obj{"type": "integer"}
		if c.hasMin {
			s["minimum"] = c.min
		}
		if c.hasMax {
			s["maximum"] = c.max
		}
		return s, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s := obj{"type": "integer", "minimum": int64(0)}
		if c.hasMax {
			s["maximum"] = c.max
		}
		return s, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, fmt.Errorf("%s: byte slices are not in the catalogue's vocabulary", t)
		}
		items, err := b.value(t.Elem(), clTag{required: true, sha256: c.sha256})
		if err != nil {
			return nil, err
		}
		s := obj{"type": "array", "items": items, "maxItems": c.max}
		if !c.hasMax {
			s["maxItems"] = int64(defaultMaxItems)
		}
		return s, nil
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct {
			return b.value(t.Elem(), clTag{})
		}
		return b.value(t.Elem(), clTag{required: c.required})
	case reflect.Struct:
		if t.Name() == "" {
			return nil, fmt.Errorf("anonymous struct %s: give it a name", t)
		}
		if err := b.define(t, func() (obj, error) {
			s, err := b.object(t, nil)
			if err == nil {
				s["title"] = t.Name()
			}
			return s, err
		}); err != nil {
			return nil, err
		}
		return obj{"$ref": "#/$defs/" + t.Name()}, nil
	}
	return nil, fmt.Errorf("%s: kind %s has no schema here", t, t.Kind())
}

// define adds the schema of named type t to $defs once.
func (b *builder) define(t reflect.Type, build func() (obj, error)) error {
	if prev, ok := b.defTypes[t.Name()]; ok {
		if prev != t {
			return fmt.Errorf("two types named %s: %s and %s", t.Name(), prev, t)
		}
		return nil
	}
	b.defTypes[t.Name()] = t
	s, err := build()
	if err != nil {
		return err
	}
	b.defs[t.Name()] = s
	return nil
}
