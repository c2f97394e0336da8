package domain

import (
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Personal data at rest. Every field tagged `cl:"personal"` is stored
// encrypted under its data subject's key (services/personal): the stored
// value is EncryptedPrefix followed by the ciphertext, and destroying the
// key erases the value for good while the event, its ids, dates and codes,
// and every hash over its stored bytes stay. The domain only knows the
// form: a value with the prefix is personal data it cannot read, and its
// length rules apply to the plaintext, which the encrypting side checked.

// EncryptedPrefix starts a personal value stored encrypted.
const EncryptedPrefix = "cl:enc1:"

// IsEncrypted reports whether a stored personal value is encrypted.
func IsEncrypted(s string) bool { return strings.HasPrefix(s, EncryptedPrefix) }

// MapPersonal returns a copy of d in which every personal string (a field
// tagged personal, the items of a personal list, and those of nested
// structs and lists) is replaced by fn(path, value); path is the field's
// JSON path, e.g. "safe_contact[1].details". d itself is left as it was.
// Empty values are left empty.
func MapPersonal[T any](d T, fn func(path, value string) (string, error)) (T, error) {
	rv := reflect.ValueOf(&d).Elem()
	out := reflect.New(rv.Type()).Elem()
	out.Set(rv)
	if err := mapValue(out, false, "", fn); err != nil {
		var zero T
		return zero, err
	}
	return out.Interface().(T), nil
}

// mapValue walks v (settable), applying fn to the personal strings.
func mapValue(v reflect.Value, personal bool, path string, fn func(path, value string) (string, error)) error {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		inner := reflect.New(v.Elem().Type()).Elem()
		inner.Set(v.Elem())
		if err := mapValue(inner, personal, path, fn); err != nil {
			return err
		}
		v.Set(inner)
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		inner := reflect.New(v.Elem().Type())
		inner.Elem().Set(v.Elem())
		if err := mapValue(inner.Elem(), personal, path, fn); err != nil {
			return err
		}
		v.Set(inner)
	case reflect.String:
		if personal && v.Len() > 0 {
			s, err := fn(path, v.String())
			if err != nil {
				return err
			}
			v.SetString(s)
		}
	case reflect.Slice:
		if v.IsNil() || !holdsPersonal(v.Type().Elem(), personal) {
			return nil
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			if err := mapValue(c.Index(i), personal, path+"["+strconv.Itoa(i)+"]", fn); err != nil {
				return err
			}
		}
		v.Set(c)
	case reflect.Struct:
		if v.Type() == timeType || v.Type() == uuidType {
			return nil
		}
		for _, r := range planFor(v.Type()) {
			name := join(path, r.name)
			if r.embedded {
				name = path
			}
			if err := mapValue(v.Field(r.index), r.personal, name, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// holdsPersonal reports whether values of t can hold a personal string.
func holdsPersonal(t reflect.Type, personal bool) bool {
	switch t.Kind() {
	case reflect.String:
		return personal
	case reflect.Slice, reflect.Pointer:
		return holdsPersonal(t.Elem(), personal)
	case reflect.Struct:
		if t == timeType || t == uuidType {
			return false
		}
		for _, r := range planFor(t) {
			if holdsPersonal(t.Field(r.index).Type, r.personal) {
				return true
			}
		}
	case reflect.Interface:
		return true
	}
	return false
}

var personalTypes sync.Map // event type -> bool

// HoldsPersonal reports whether events of the type can hold a personal
// value (false for an unknown type): an encrypting store skips the others.
func HoldsPersonal(typ string) bool {
	if v, ok := personalTypes.Load(typ); ok {
		return v.(bool)
	}
	s := Spec(typ)
	has := s != nil && holdsPersonal(s.goType, false)
	personalTypes.Store(typ, has)
	return has
}

// SubjectParty returns the party an event's personal values are about
// (its field tagged `cl:"subject"`), or uuid.Nil when they are about the
// case as a whole.
func SubjectParty(d any) uuid.UUID {
	v := reflect.ValueOf(d)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return uuid.Nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return uuid.Nil
	}
	for _, r := range planFor(v.Type()) {
		if r.subject {
			if id, ok := v.Field(r.index).Interface().(uuid.UUID); ok {
				return id
			}
		}
		if r.embedded { // a command: its event's fields
			if id := SubjectParty(v.Field(r.index).Interface()); id != uuid.Nil {
				return id
			}
		}
	}
	return uuid.Nil
}

// noReservedPrefix refuses a command any of whose strings starts with
// EncryptedPrefix: that form is the store's own, and a value sent in it
// would be kept as it came (in clear, or as a forged ciphertext that opens
// under no key), outside encryption and erasure.
func noReservedPrefix(cmd any) error {
	return reservedIn(reflect.ValueOf(cmd), "")
}

func reservedIn(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return reservedIn(v.Elem(), path)
	case reflect.String:
		if IsEncrypted(v.String()) {
			return invalid(path, "starts with "+EncryptedPrefix+", a form reserved to the store")
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // bytes (raw JSON, ids): no text of this kind
		}
		for i := range v.Len() {
			if err := reservedIn(v.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return nil
		}
		for _, r := range planFor(v.Type()) {
			name := r.name
			if r.embedded {
				name = path
			} else if path != "" {
				name = path + "." + r.name
			}
			if err := reservedIn(v.Field(r.index), name); err != nil {
				return err
			}
		}
	}
	return nil
}
