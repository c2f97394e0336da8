package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A small YAML writer for the documents built here (maps, lists, strings,
// numbers, booleans, null), in block style with keys sorted. Strings that
// YAML could read as something else are written as JSON strings, which are
// valid YAML double-quoted scalars; multi-line strings as literal blocks.

// plain matches strings safe to write unquoted.
var plain = regexp.MustCompile(`^[A-Za-z_$/][A-Za-z0-9_$/.+-]*$`)

// yaml11Words are read as booleans or null by YAML 1.1 readers.
var yaml11Words = []string{"y", "n", "yes", "no", "on", "off", "true", "false", "null"}

func scalar(s string) string {
	if plain.MatchString(s) && !slices.Contains(yaml11Words, strings.ToLower(s)) {
		return s
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

func isBlock(v any) bool {
	switch x := v.(type) {
	case obj:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case []string:
		return len(x) > 0
	}
	return false
}

// inline writes a value that fits after "key: " or "- ".
func inline(v any, indent int) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		if !strings.Contains(x, "\n") {
			return scalar(x), nil
		}
		var b strings.Builder
		b.WriteString("|-")
		for line := range strings.SplitSeq(x, "\n") {
			b.WriteString("\n")
			if line != "" {
				b.WriteString(strings.Repeat(" ", indent+2) + line)
			}
		}
		return b.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case obj:
		return "{}", nil
	case []any, []string:
		return "[]", nil
	}
	return "", fmt.Errorf("no YAML for a %T", v)
}

// writeYAML writes v in block style at the given indentation.
func writeYAML(w *bytes.Buffer, v any, indent int) error {
	pad := strings.Repeat(" ", indent)
	switch x := v.(type) {
	case obj:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.WriteString(pad + scalar(k) + ":")
			if isBlock(x[k]) {
				w.WriteString("\n")
				if err := writeYAML(w, x[k], indent+2); err != nil {
					return err
				}
				continue
			}
			s, err := inline(x[k], indent)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			w.WriteString(" " + s + "\n")
		}
	case []string:
		for _, s := range x {
			w.WriteString(pad + "- " + scalar(s) + "\n")
		}
	case []any:
		for _, item := range x {
			if !isBlock(item) {
				s, err := inline(item, indent)
				if err != nil {
					return err
				}
				w.WriteString(pad + "- " + s + "\n")
				continue
			}
			// The item's block goes two columns in, its first line after "- ".
			var sub bytes.Buffer
			if err := writeYAML(&sub, item, indent+2); err != nil {
				return err
			}
			w.WriteString(pad + "- " + strings.TrimPrefix(sub.String(), pad+"  "))
		}
	default:
		s, err := inline(v, indent)
		if err != nil {
			return err
		}
		w.WriteString(pad + s + "\n")
	}
	return nil
}
