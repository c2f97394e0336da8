package domain

import (
	"reflect"
	"slices"
)

// EnumValues returns the allowed values of one of the catalogue's enum types
// (Role, RiskBand, Destination…), in declaration order, for schema
// generators. It reports false for any other type, including a pointer to an
// enum. The empty string is never among the values: an enum field left empty
// is either missing (cl:"required") or absent.
func EnumValues(t reflect.Type) ([]string, bool) {
	if t == nil || t.Kind() != reflect.String || !t.Implements(enumType) {
		return nil, false
	}
	return slices.Clone(reflect.Zero(t).Interface().(enum).allowed()), true
}
