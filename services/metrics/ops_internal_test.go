package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/caseledger/caseledger/internal/testfixture"
)

// TestRelayLagSaysWhenCapped: behind by fewer records than the cap, the
// lag is exact and not flagged; behind by more, it stops at the cap and
// says so, rather than saturating silently.
func TestRelayLagSaysWhenCapped(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		cases  int
		capped bool
	}{{5, false}, {320, true}} {
		st, cases := testfixture.Generated(t, 3, tc.cases)
		total := 0
		for _, c := range cases {
			total += len(c.Events())
		}
		if tc.capped && total <= lagCap {
			t.Fatalf("%d events do not pass the cap of %d", total, lagCap)
		}
		n, capped, age, err := relayLag(ctx, st, eventstore.Start, time.Now())
		switch {
		case err != nil:
			t.Fatal(err)
		case capped != tc.capped:
			t.Errorf("%d events behind: capped %v", total, capped)
		case !tc.capped && n != int64(total):
			t.Errorf("%d events behind: lag %d", total, n)
		case tc.capped && (n == 0 || n > lagCap):
			t.Errorf("%d events behind: lag %d, want at most the cap", total, n)
		case age <= 0:
			t.Errorf("age %v", age)
		}
	}
}
