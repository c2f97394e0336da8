package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/projections"
)

// getWorklist lists a worker's open follow-ups by due date, overdue first
// (they are due earliest), in the compartments the caller's role may see.
// Workers read their own list; supervisors and auditors may name another
// worker with ?assignee=. Every case the page reveals gets an access record
// first. Pages follow ?after=, the cursor the previous page gave as next.
func (s *Server) getWorklist(w http.ResponseWriter, r *http.Request, p Principal) {
	why, ok := listRead(w, r, "assignee", "limit", "after")
	if !ok {
		return
	}
	vis := Visible(p.Role)
	if len(vis) == 0 {
		problem(w, http.StatusForbidden, "forbidden", "role has no worklist")
		return
	}
	assignee := p.UserID
	if a := r.URL.Query().Get("assignee"); a != "" && a != p.UserID {
		if p.Role != domain.RoleSupervisor && p.Role != domain.RoleAuditor {
			problem(w, http.StatusForbidden, "forbidden", "only supervisors and auditors read another worker's list")
			return
		}
		if len(a) > 128 {
			problem(w, http.StatusBadRequest, "invalid_assignee", "assignee is at most 128 characters")
			return
		}
		assignee = a
	}
	limit, after, ok := listPage(w, r)
	if !ok {
		return
	}
	in, args := compartmentsIn(vis, assignee)
	args = append(args, after.key, after.id, limit+1)
	n := len(args)
	rows, err := rowMaps(r.Context(), s.db, `SELECT follow_up_id, case_id, party_id, party_role, kind, due_by, attempts, compartment FROM worklist
		WHERE assignee = $1 AND compartment IN `+in+fmt.Sprintf(` AND (due_by > $%d OR (due_by = $%d AND follow_up_id > $%d))
		ORDER BY due_by, follow_up_id LIMIT $%d`, n-2, n-2, n-1, n), args...)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	now := projections.TS(s.now())
	for _, row := range rows {
		row["overdue"] = row["due_by"].(string) < now
	}
	s.sendPage(w, r, p, why, "worklist", "follow_ups", rows, limit, "due_by", "follow_up_id", map[string]any{"assignee": assignee})
}

// cursor is where a list page ended: the sort key and id of its last row.
type cursor struct{ key, id string }

// listPage reads ?limit= (1 to 1000, default 200) and ?after=, the opaque
// cursor a previous page gave, or answers 400.
func listPage(w http.ResponseWriter, r *http.Request) (int, cursor, bool) {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem(w, http.StatusBadRequest, "invalid_page", "limit must be a whole number from 1 to 1000")
			return 0, cursor{}, false
		}
		limit = n
	}
	var c cursor
	if v := r.URL.Query().Get("after"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		key, id, found := strings.Cut(string(raw), "|")
		if err != nil || !found {
			problem(w, http.StatusBadRequest, "invalid_page", "after must be the cursor a previous page gave")
			return 0, cursor{}, false
		}
		c = cursor{key, id}
	}
	return limit, c, true
}

// nextPage is the query string of the page after a row with this sort key
// and id.
func nextPage(key, id any, limit int) string {
	return "after=" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprint(key)+"|"+fmt.Sprint(id))) + "&limit=" + strconv.Itoa(limit)
}
