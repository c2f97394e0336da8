package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// validator checks JSON documents against one schema document, for exactly
// the JSON Schema subset the generator writes. compile refuses a schema with
// any other keyword, so a keyword this validator would silently ignore
// cannot creep into the generated files.
type validator struct {
	root     map[string]any
	patterns map[string]*regexp.Regexp
}

// keywords the validator knows; x-* annotations are allowed too.
var (
	assertions  = []string{"$ref", "type", "properties", "required", "additionalProperties", "enum", "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "maxItems"}
	annotations = []string{"$schema", "$comment", "$defs", "title", "description"}
	uuidFormat  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func compile(doc []byte) (*validator, error) {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, err
	}
	v := &validator{root: root, patterns: map[string]*regexp.Regexp{}}
	return v, v.check(root, "#", true)
}

// check walks a schema: known keywords only, well-formed values, $refs that
// resolve, patterns that compile.
func (v *validator) check(s map[string]any, at string, isRoot bool) error {
	for k, val := range s {
		switch {
		case strings.HasPrefix(k, "x-"):
		case k == "$defs":
			if !isRoot {
				return fmt.Errorf("%s: $defs below the root", at)
			}
			for name, d := range val.(map[string]any) {
				if err := v.check(d.(map[string]any), at+"/$defs/"+name, false); err != nil {
					return err
				}
			}
		case k == "properties":
			for name, p := range val.(map[string]any) {
				if err := v.check(p.(map[string]any), at+"/properties/"+name, false); err != nil {
					return err
				}
			}
		case k == "items":
			if err := v.check(val.(map[string]any), at+"/items", false); err != nil {
				return err
			}
		case k == "additionalProperties":
			if val != false {
				return fmt.Errorf("%s: additionalProperties other than false", at)
			}
		case k == "$ref":
			if _, err := v.resolve(val.(string)); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		case k == "pattern":
			re, err := regexp.Compile(val.(string))
			if err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			v.patterns[val.(string)] = re
		case k == "format":
			if f := val.(string); f != "uuid" && f != "date-time" {
				return fmt.Errorf("%s: format %q", at, f)
			}
		case slices.Contains(assertions, k), slices.Contains(annotations, k):
		default:
			return fmt.Errorf("%s: keyword %q is outside the subset", at, k)
		}
	}
	return nil
}

func (v *validator) resolve(ref string) (map[string]any, error) {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not a local $defs pointer", ref)
	}
	defs, _ := v.root["$defs"].(map[string]any)
	d, ok := defs[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q does not resolve", ref)
	}
	return d, nil
}

// Validate decodes one JSON document (numbers kept exact) and checks it.
func (v *validator) Validate(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return v.validate(v.root, x, "")
}

func (v *validator) validate(s map[string]any, x any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		d, err := v.resolve(ref)
		if err != nil {
			return err
		}
		if err := v.validate(d, x, at); err != nil {
			return err
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, e := range t {
				types = append(types, e.(string))
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return isType(x, t) }) {
			return fmt.Errorf("%s: not of type %v", where(at), types)
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, x) {
		return fmt.Errorf("%s: not one of the enum", where(at))
	}
	switch x := x.(type) {
	case string:
		return v.validateString(s, x, at)
	case json.Number:
		n, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return fmt.Errorf("%s: %w", where(at), err)
		}
		if m, ok := s["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: below the minimum", where(at))
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			return fmt.Errorf("%s: above the maximum", where(at))
		}
	case []any:
		if m, ok := s["maxItems"].(float64); ok && float64(len(x)) > m {
			return fmt.Errorf("%s: more than maxItems", where(at))
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				if err := v.validate(items, e, at+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: required member missing", join(at, r))
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: unknown member", join(at, k))
				}
				continue
			}
			if err := v.validate(p, x[k], join(at, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *validator) validateString(s map[string]any, x, at string) error {
	n := float64(utf8.RuneCountInString(x))
	if m, ok := s["maxLength"].(float64); ok && n > m {
		return fmt.Errorf("%s: longer than maxLength", where(at))
	}
	if m, ok := s["minLength"].(float64); ok && n < m {
		return fmt.Errorf("%s: shorter than minLength", where(at))
	}
	if p, ok := s["pattern"].(string); ok && !v.patterns[p].MatchString(x) {
		return fmt.Errorf("%s: does not match %s", where(at), p)
	}
	switch s["format"] {
	case "uuid":
		if !uuidFormat.MatchString(x) {
			return fmt.Errorf("%s: not a uuid", where(at))
		}
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
			return fmt.Errorf("%s: not an RFC 3339 date-time", where(at))
		}
	}
	return nil
}

// isType reports whether a decoded JSON value is of a JSON Schema type. An
// integer is a number written without a fraction or an exponent: stricter
// than JSON Schema (which takes 1.0), as strict as encoding/json into an int.
func isType(x any, t string) bool {
	switch x := x.(type) {
	case nil:
		return t == "null"
	case bool:
		return t == "boolean"
	case string:
		return t == "string"
	case json.Number:
		return t == "number" || t == "integer" && !strings.ContainsAny(x.String(), ".eE")
	case []any:
		return t == "array"
	case map[string]any:
		return t == "object"
	}
	return false
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			out = append(out, e.(string))
		}
	}
	return out
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

func where(at string) string {
	if at == "" {
		return "(document)"
	}
	return at
}
