package domain

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Title returns a readable name for an event type string:
// "case.referral_sent" reads "Referral sent", "case.opened" "Case opened".
func Title(typ string) string {
	ns, name, ok := strings.Cut(typ, ".")
	if !ok {
		return typ
	}
	switch name {
	case "opened", "assigned", "flagged", "closed", "reopened":
		name = ns + "_" + name
	}
	name = strings.ReplaceAll(name, "_", " ")
	return strings.ToUpper(name[:1]) + name[1:]
}

// Summary renders a payload's fields as "key=value" pairs for a timeline:
// ids shortened to their first 8 characters, times in UTC to the minute,
// lists by their items when short. Fields that hold personal data are left
// out: a summary is safe to show on any screen the event's compartment
// allows, and to print in a demo.
func Summary(d EventData) string {
	rv := reflect.ValueOf(d)
	if !rv.IsValid() || rv.Kind() != reflect.Struct {
		return ""
	}
	var b strings.Builder
	summarise(&b, rv)
	return strings.TrimSpace(b.String())
}

func summarise(b *strings.Builder, rv reflect.Value) {
	for _, r := range planFor(rv.Type()) {
		fv := rv.Field(r.index)
		if r.embedded {
			summarise(b, fv)
			continue
		}
		if r.personal || fv.IsZero() {
			continue
		}
		fmt.Fprintf(b, " %s=%s", r.name, short(fv))
	}
}

func short(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case uuid.UUID:
		return x.String()[:8]
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04Z")
	case Actor:
		return x.UserID + "/" + string(x.Role)
	}
	switch v.Kind() {
	case reflect.Pointer:
		return short(v.Elem())
	case reflect.Slice:
		if v.Len() > 4 {
			return fmt.Sprintf("[%d items]", v.Len())
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = short(v.Index(i))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case reflect.Struct:
		var b strings.Builder
		summarise(&b, v)
		return "{" + strings.TrimSpace(b.String()) + "}"
	case reflect.String:
		s := v.String()
		if r := []rune(s); len(r) > 48 {
			s = string(r[:45]) + "..."
		}
		if strings.ContainsAny(s, " =") {
			return fmt.Sprintf("%q", s)
		}
		return s
	}
	return fmt.Sprint(v.Interface())
}
