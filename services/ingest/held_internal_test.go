package ingest

import (
	"slices"
	"testing"

	"github.com/google/uuid"
)

// TestHeldForgotten: sequences held for a case are forgotten when a new
// consumer starts (INTAKE made anew numbers from 1 again) and when their
// message is refused, so no case waits for a sequence that cannot come.
func TestHeldForgotten(t *testing.T) {
	var h heldCases
	a, b := uuid.New(), uuid.New()
	h.m = map[uuid.UUID][]uint64{a: {5000, 5001}, b: {7}}
	h.forget(5000)
	if !slices.Equal(h.m[a], []uint64{5001}) || !slices.Equal(h.m[b], []uint64{7}) {
		t.Fatalf("after forgetting 5000: %v", h.m)
	}
	h.forget(7)
	if _, ok := h.m[b]; ok {
		t.Fatalf("a case with nothing held left: %v", h.m)
	}
	h.reset()
	if len(h.m) != 0 {
		t.Fatalf("after a reset: %v", h.m)
	}
}
