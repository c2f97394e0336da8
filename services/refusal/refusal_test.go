package refusal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/refusal"
)

// sentinels maps every sentinel the domain declares to its value. The test
// below reads domain/errors.go, so a sentinel added there and not here (nor
// to the refusal table) fails it.
var sentinels = map[string]error{
	"ErrInvalidField": domain.ErrInvalidField, "ErrUnknownCommand": domain.ErrUnknownCommand, "ErrUnknownEventType": domain.ErrUnknownEventType,
	"ErrMalformed": domain.ErrMalformed, "ErrCaseNotFound": domain.ErrCaseNotFound, "ErrCaseExists": domain.ErrCaseExists,
	"ErrCaseMismatch": domain.ErrCaseMismatch, "ErrCaseClosed": domain.ErrCaseClosed, "ErrCaseNotClosed": domain.ErrCaseNotClosed,
	"ErrRoleNotAllowed": domain.ErrRoleNotAllowed, "ErrNotAddressee": domain.ErrNotAddressee, "ErrUnknownParty": domain.ErrUnknownParty,
	"ErrDuplicate": domain.ErrDuplicate, "ErrNotFound": domain.ErrNotFound, "ErrInvalidTransition": domain.ErrInvalidTransition,
	"ErrNoConsent": domain.ErrNoConsent, "ErrApprovalRequired": domain.ErrApprovalRequired, "ErrOpenItems": domain.ErrOpenItems,
	"ErrUnknownEntry": domain.ErrUnknownEntry, "ErrCompartmentWidened": domain.ErrCompartmentWidened, "ErrNoChange": domain.ErrNoChange,
	"ErrNotHighRisk": domain.ErrNotHighRisk, "ErrCustodyMismatch": domain.ErrCustodyMismatch, "ErrLegalHold": domain.ErrLegalHold,
	"ErrOrderRequired": domain.ErrOrderRequired, "ErrConflictingDuplicate": domain.ErrConflictingDuplicate,
}

// TestEveryDomainSentinelHasARefusal: every error the domain can return
// has one row, so that NATS and HTTP answer it with its own code, never as
// an outage.
func TestEveryDomainSentinelHasARefusal(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../../domain/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok {
			for _, name := range v.Names {
				if strings.HasPrefix(name.Name, "Err") {
					declared = append(declared, name.Name)
				}
			}
		}
		return true
	})
	if len(declared) != len(sentinels) {
		t.Errorf("domain/errors.go declares %d sentinels, this test knows %d: add the new ones here and to the refusal table", len(declared), len(sentinels))
	}
	codes := map[string]string{}
	for _, name := range declared {
		e, ok := sentinels[name]
		if !ok {
			t.Errorf("%s: not known to this test", name)
			continue
		}
		code, _, reason, ok := refusal.Describe(e)
		if !ok || code == "" || reason == "" {
			t.Errorf("%s has no refusal row", name)
			continue
		}
		if other, dup := codes[code]; dup {
			t.Errorf("%s and %s share the code %s", name, other, code)
		}
		codes[code] = name
		if !slices.Contains(refusal.Codes(), code) {
			t.Errorf("%s's code %s is not listed by Codes", name, code)
		}
	}
}
