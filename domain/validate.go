package domain

import (
	"encoding/hex"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Shape validation of commands and event payloads, driven by struct tags so
// that the catalogue's ~60 types each state their rules where their fields are
// declared:
//
//	cl:"required"        the field must not be its zero value
//	cl:"personal"        the field holds personal data (never logged, shown only to readers)
//	cl:"subject"         (a party id) the event's personal values are about that party
//	cl:"max=N"           strings: at most N bytes; slices: at most N items; ints: at most N
//	cl:"min=N"           ints: at least N
//	cl:"sha256"          a lower- or upper-case hex SHA-256 digest
//
// Every enum is checked against its allowed values, every time against a sane
// range, and every string against a default length limit. Errors name the JSON
// path of the field and never contain its value.

const (
	defaultMaxString = 4096
	defaultMaxItems  = 1000
	// MaxFutureSkew is how far ahead of the recording clock occurred_at may be:
	// emitters' clocks drift, but an event cannot have happened tomorrow.
	MaxFutureSkew = 5 * time.Minute
	// maxHorizon bounds any other date (due dates, ends of conditions).
	maxHorizon = 10 * 365 * 24 * time.Hour
)

var (
	earliest = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	uuidType = reflect.TypeFor[uuid.UUID]()
	timeType = reflect.TypeFor[time.Time]()
	enumType = reflect.TypeFor[enum]()
)

type fieldRule struct {
	index    int
	name     string // JSON name
	required bool
	personal bool
	subject  bool // the field names the party the event's personal values are about
	sha256   bool
	hasMin   bool
	min      int64
	max      int64 // 0: default
	embedded bool  // anonymous struct: its fields are at this level in JSON
	enum     bool  // the field's type is an enum (checked once, here, not per value)
	elemEnum bool  // a list's or pointer's element type is an enum
}

var plans sync.Map // reflect.Type -> []fieldRule

func planFor(t reflect.Type) []fieldRule {
	if p, ok := plans.Load(t); ok {
		return p.([]fieldRule)
	}
	var rules []fieldRule
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		r := fieldRule{index: i, name: name, embedded: f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == ""}
		r.enum = f.Type.Implements(enumType)
		if k := f.Type.Kind(); k == reflect.Slice || k == reflect.Pointer {
			r.elemEnum = f.Type.Elem().Implements(enumType)
		}
		for opt := range strings.SplitSeq(f.Tag.Get("cl"), ",") {
			key, val, _ := strings.Cut(opt, "=")
			switch key {
			case "required":
				r.required = true
			case "personal":
				r.personal = true
			case "subject":
				r.subject = true
			case "sha256":
				r.sha256 = true
			case "max":
				r.max, _ = strconv.ParseInt(val, 10, 64)
			case "min":
				r.min, _ = strconv.ParseInt(val, 10, 64)
				r.hasMin = true
			}
		}
		rules = append(rules, r)
	}
	plans.Store(t, rules)
	return rules
}

// validateShape checks v (a struct or pointer to one) against its tags. now
// bounds dates; a zero now skips the checks relative to the clock.
func validateShape(v any, now time.Time) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return invalid("(body)", "missing")
		}
		rv = rv.Elem()
	}
	return validateStruct(rv, "", now)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func validateStruct(rv reflect.Value, prefix string, now time.Time) error {
	for _, r := range planFor(rv.Type()) {
		fv := rv.Field(r.index)
		if r.embedded {
			if err := validateStruct(fv, prefix, now); err != nil {
				return err
			}
			continue
		}
		if err := validateValue(fv, r, join(prefix, r.name), now); err != nil {
			return err
		}
	}
	return nil
}

func validateValue(fv reflect.Value, r fieldRule, path string, now time.Time) error {
	if fv.IsZero() {
		if r.required {
			return invalid(path, "required")
		}
		return nil
	}
	t := fv.Type()
	if r.enum {
		e := fv.Interface().(enum)
		if !e.valid() {
			return invalid(path, allowedList(e))
		}
		return nil
	}
	switch {
	case t == uuidType:
		return nil
	case t == timeType:
		ts := fv.Interface().(time.Time)
		if ts.Before(earliest) {
			return invalid(path, "before 1950")
		}
		if !now.IsZero() && ts.After(now.Add(maxHorizon)) {
			return invalid(path, "more than ten years in the future")
		}
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		s := fv.String()
		limit := r.max
		if limit == 0 {
			limit = defaultMaxString
		}
		if r.personal && IsEncrypted(s) {
			// The plaintext's length was checked before it was
			// encrypted; the stored form is longer (base64, nonce, tag).
			limit = limit*2 + 256
		}
		if int64(len(s)) > limit {
			return invalid(path, "longer than "+strconv.FormatInt(limit, 10)+" bytes")
		}
		if r.sha256 {
			if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
				return invalid(path, "not a hex SHA-256 digest")
			}
		}
		if strings.TrimSpace(s) == "" && r.required {
			return invalid(path, "required")
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n := fv.Int()
		if r.hasMin && n < r.min {
			return invalid(path, "below "+strconv.FormatInt(r.min, 10))
		}
		if r.max != 0 && n > r.max {
			return invalid(path, "above "+strconv.FormatInt(r.max, 10))
		}
	case reflect.Slice:
		limit := r.max
		if limit == 0 {
			limit = defaultMaxItems
		}
		if int64(fv.Len()) > limit {
			return invalid(path, "more than "+strconv.FormatInt(limit, 10)+" items")
		}
		item := fieldRule{sha256: r.sha256, required: true, enum: r.elemEnum, personal: r.personal} // a list holds no blank items
		for i := range fv.Len() {
			if err := validateValue(fv.Index(i), item, path+"["+strconv.Itoa(i)+"]", now); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		if fv.Elem().Kind() == reflect.Struct {
			// A struct given behind a pointer is present: its own required
			// fields apply even when every one of them is empty.
			return validateStruct(fv.Elem(), path, now)
		}
		return validateValue(fv.Elem(), fieldRule{required: r.required, enum: r.elemEnum}, path, now)
	case reflect.Struct:
		return validateStruct(fv, path, now)
	}
	return nil
}
