package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// The codec turns events and commands into JSON and back. Encoding is plain
// encoding/json. Decoding is strict: unknown types, unknown fields, wrong JSON
// types, trailing data and values that break a field's rules are errors that
// name the field, never a panic and never a silently dropped field. Error
// texts never repeat the offending value: it may be personal data.

// zeroTime skips the checks relative to the clock when validating decoded
// events: they were checked against the clock when they were decided.
var zeroTime time.Time

// wireEvent is the JSON envelope of an event outside the store (NATS, files,
// disclosure bundles). In the store, data and metadata are kept apart.
type wireEvent struct {
	ID            uuid.UUID       `json:"id"`
	CaseID        uuid.UUID       `json:"case_id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Meta          json.RawMessage `json:"meta"`
	Data          json.RawMessage `json:"data"`
}

// EncodeData returns a payload's type string, its current schema version and
// its JSON. It returns ErrUnknownEventType for a payload not in the registry.
func EncodeData(d EventData) (typ string, version int, data []byte, err error) {
	s := SpecOf(d)
	if s == nil {
		return "", 0, nil, fmt.Errorf("%w: %T", ErrUnknownEventType, d)
	}
	data, err = json.Marshal(d)
	if err != nil {
		return "", 0, nil, fmt.Errorf("domain: encode %s: %w", s.Type, err)
	}
	return s.Type, s.Version, data, nil
}

// DecodeData decodes the JSON payload of an event of type typ stored at
// schema version version, upcasting older versions to the current one. It
// returns ErrUnknownEventType for an unknown type or a version newer than
// this build knows, ErrMalformed for JSON that does not fit, and
// ErrInvalidField (in a *FieldError) for a value that breaks a rule.
func DecodeData(typ string, version int, data []byte) (EventData, error) {
	s := Spec(typ)
	if s == nil {
		return nil, &FieldError{Field: "type", Reason: "not in the catalogue", Err: ErrUnknownEventType}
	}
	if version < 1 || version > s.Version {
		return nil, &FieldError{Field: "schema_version", Reason: "this build knows versions 1 to " + strconv.Itoa(s.Version), Err: ErrUnknownEventType}
	}
	data, err := upcast(typ, version, data)
	if err != nil {
		return nil, err
	}
	p := s.newData()
	if err := strictUnmarshal(data, p); err != nil {
		return nil, err
	}
	if err := validateShape(p, zeroTime); err != nil {
		return nil, err
	}
	return reflect.ValueOf(p).Elem().Interface(), nil
}

// EncodeMeta returns the JSON of an event's metadata.
func EncodeMeta(m Meta) ([]byte, error) { return json.Marshal(m) }

// DecodeMeta strictly decodes and checks an event's metadata.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if err := strictUnmarshal(b, &m); err != nil {
		return Meta{}, prefixField("meta", err)
	}
	if err := m.Validate(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// Validate checks metadata against its field rules (errors name the field,
// prefixed "meta.").
func (m Meta) Validate() error {
	return prefixField("meta", validateShape(&m, zeroTime))
}

// StrictUnmarshal decodes exactly one JSON value into v the way the codec
// does: unknown fields, wrong JSON types and trailing data are errors
// (ErrMalformed in a *FieldError) that name the field and never the value.
func StrictUnmarshal(data []byte, v any) error { return strictUnmarshal(data, v) }

// MarshalEvent encodes an event in its JSON envelope.
func MarshalEvent(e Event) ([]byte, error) {
	typ, v, data, err := EncodeData(e.Data)
	if err != nil {
		return nil, err
	}
	meta, err := EncodeMeta(e.Meta)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireEvent{ID: e.ID, CaseID: e.CaseID, Type: typ, SchemaVersion: v, Meta: meta, Data: data})
}

// UnmarshalEvent strictly decodes an event envelope, upcasting its payload.
// Errors name the field that is wrong (see DecodeData).
func UnmarshalEvent(b []byte) (Event, error) {
	var w wireEvent
	if err := strictUnmarshal(b, &w); err != nil {
		return Event{}, err
	}
	switch {
	case w.ID == uuid.Nil:
		return Event{}, invalid("id", "required")
	case w.CaseID == uuid.Nil:
		return Event{}, invalid("case_id", "required")
	case w.Type == "":
		return Event{}, invalid("type", "required")
	case len(w.Meta) == 0:
		return Event{}, invalid("meta", "required")
	case len(w.Data) == 0:
		return Event{}, invalid("data", "required")
	}
	meta, err := DecodeMeta(w.Meta)
	if err != nil {
		return Event{}, err
	}
	d, err := DecodeData(w.Type, w.SchemaVersion, w.Data)
	if errors.Is(err, ErrUnknownEventType) {
		return Event{}, err // about the envelope's type and schema_version
	}
	if err != nil {
		return Event{}, prefixField("data", err)
	}
	return Event{ID: w.ID, CaseID: w.CaseID, Meta: meta, Data: d}, nil
}

// CommandDigest is the SHA-256 (hex) of a command's name and canonical
// JSON: what tells a retry of a command from another command reusing its
// id.
func CommandDigest(c Command) (string, error) {
	name, data, err := EncodeCommand(c)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(append([]byte(name+"\n"), data...))
	return hex.EncodeToString(h[:]), nil
}

// EncodeCommand returns a command's name and JSON.
func EncodeCommand(c Command) (name string, data []byte, err error) {
	name = CommandName(c)
	if name == "" {
		return "", nil, fmt.Errorf("%w: %T", ErrUnknownCommand, c)
	}
	data, err = json.Marshal(c)
	return name, data, err
}

// DecodeCommand strictly decodes the JSON of the named command. Its rules are
// checked by Decide, which knows the clock and the case.
func DecodeCommand(name string, data []byte) (Command, error) {
	s := commandsByName[name]
	if s == nil {
		return nil, &FieldError{Field: "command", Reason: "not in the catalogue", Err: ErrUnknownCommand}
	}
	p := reflect.New(s.goType)
	if err := strictUnmarshal(data, p.Interface()); err != nil {
		return nil, err
	}
	return p.Elem().Interface().(Command), nil
}

// strictUnmarshal decodes exactly one JSON value into v, refusing unknown
// fields, and turns encoding/json's errors into ones that name the field and
// leave out the value.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describe(err, data, reflect.TypeOf(v).Elem())
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Field: "(body)", Reason: "trailing data after the JSON value", Err: ErrMalformed}
	}
	return nil
}

func describe(err error, data []byte, t reflect.Type) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		// encoding/json names embedded structs by their Go type
		// (CaseOpened.module); on the wire they are flat.
		var parts []string
		for p := range strings.SplitSeq(typeErr.Field, ".") {
			if p != "" && !unicode.IsUpper(rune(p[0])) {
				parts = append(parts, p)
			}
		}
		field := strings.Join(parts, ".")
		if field == "" {
			field = "(body)"
		}
		return &FieldError{Field: field, Reason: "JSON " + typeErr.Value + " where " + jsonKind(typeErr.Type) + " expected", Err: ErrMalformed}
	case errors.As(err, &syntaxErr):
		return &FieldError{Field: "(body)", Reason: "JSON syntax error at byte " + strconv.FormatInt(syntaxErr.Offset, 10), Err: ErrMalformed}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Field: "(body)", Reason: "empty or truncated JSON", Err: ErrMalformed}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return &FieldError{Field: name, Reason: "unknown field", Err: ErrMalformed}
	}
	// A value's own decoder failed (a time, a uuid): its message may quote
	// the value, so find the field ourselves and say only what it expects.
	var raw any
	if json.Unmarshal(data, &raw) == nil {
		if path, want := locate(raw, t, ""); path != "" {
			return &FieldError{Field: path, Reason: "not a valid " + want, Err: ErrMalformed}
		}
	}
	return &FieldError{Field: "(body)", Reason: "a value could not be decoded", Err: ErrMalformed}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint8, reflect.Uint, reflect.Uint64:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.Kind().String()
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// locate walks a generic decoding of the input beside the Go type it failed
// to decode into and returns the path of the first value whose own decoder
// refuses it, and what that decoder expects.
func locate(raw any, t reflect.Type, path string) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if pt := reflect.PointerTo(t); pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType) {
		b, _ := json.Marshal(raw)
		if json.Unmarshal(b, reflect.New(t).Interface()) != nil {
			want := "value"
			switch t {
			case timeType:
				want = "RFC 3339 time"
			case uuidType:
				want = "UUID"
			}
			if path == "" {
				path = "(body)"
			}
			return path, want
		}
		return "", ""
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return "", ""
		}
		for _, r := range planFor(t) {
			ft := t.Field(r.index).Type
			if r.embedded {
				if p, w := locate(raw, ft, path); p != "" {
					return p, w
				}
				continue
			}
			if v, ok := obj[r.name]; ok {
				if p, w := locate(v, ft, join(path, r.name)); p != "" {
					return p, w
				}
			}
		}
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			return "", ""
		}
		for i, v := range arr {
			if p, w := locate(v, t.Elem(), path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p, w
			}
		}
	}
	return "", ""
}

// prefixField puts a parent's name in front of a *FieldError's field.
func prefixField(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		c := *fe
		if c.Field == "(body)" {
			c.Field = prefix
		} else {
			c.Field = prefix + "." + c.Field
		}
		return &c
	}
	return err
}

// storedMeta is how an event's metadata is stored: the envelope plus the
// payload's schema version, so that older payloads are upcast on read.
type storedMeta struct {
	SchemaVersion int `json:"schema_version"`
	Meta
	// WriterSig is the writer's signature the store's writer adds as the
	// last field (see services/ledger: writer signatures); the domain
	// neither makes nor reads it.
	WriterSig string `json:"writer_sig,omitempty"`
}

// EncodeStored returns what a store keeps of an event: its type, its
// payload JSON and its metadata JSON (envelope and schema version).
func EncodeStored(e Event) (typ string, data, metadata []byte, err error) {
	typ, version, data, err := EncodeData(e.Data)
	if err != nil {
		return "", nil, nil, err
	}
	metadata, err = json.Marshal(storedMeta{SchemaVersion: version, Meta: e.Meta})
	if err != nil {
		return "", nil, nil, fmt.Errorf("domain: encode metadata: %w", err)
	}
	return typ, data, metadata, nil
}

// DecodeStored rebuilds an event from what a store kept (see EncodeStored),
// strictly, upcasting older schema versions. Errors name the field, never a
// value.
func DecodeStored(id, caseID uuid.UUID, typ string, data, metadata []byte) (Event, error) {
	var m storedMeta
	if err := strictUnmarshal(metadata, &m); err != nil {
		return Event{}, prefixField("metadata", err)
	}
	if err := m.Meta.Validate(); err != nil {
		return Event{}, err
	}
	d, err := DecodeData(typ, m.SchemaVersion, data)
	if err != nil {
		return Event{}, err
	}
	return Event{ID: id, CaseID: caseID, Meta: m.Meta, Data: d}, nil
}
