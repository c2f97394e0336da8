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
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem(w, http.StatusBadRequest, "invalid_page", "limit must be a whole number from 1 to 1000")
			return
		}
		limit = n
	}
	afterDue, afterID := "", ""
	if v := r.URL.Query().Get("after"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		due, id, found := strings.Cut(string(raw), "|")
		if err != nil || !found {
			problem(w, http.StatusBadRequest, "invalid_page", "after must be the cursor a previous page gave")
			return
		}
		afterDue, afterID = due, id
	}
	in, args := compartmentsIn(vis, assignee)
	args = append(args, afterDue, afterID, limit+1)
	n := len(args)
	rows, err := rowMaps(r.Context(), s.db, `SELECT follow_up_id, case_id, party_id, party_role, kind, due_by, attempts, compartment FROM worklist
		WHERE assignee = $1 AND compartment IN `+in+fmt.Sprintf(` AND (due_by > $%d OR (due_by = $%d AND follow_up_id > $%d))
		ORDER BY due_by, follow_up_id LIMIT $%d`, n-2, n-2, n-1, n), args...)
	if err != nil {
		problem(w, http.StatusInternalServerError, "internal", "the read model could not be read")
		return
	}
	resp := map[string]any{"assignee": assignee}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		resp["next"] = "after=" + base64.RawURLEncoding.EncodeToString([]byte(last["due_by"].(string)+"|"+last["follow_up_id"].(string))) + "&limit=" + strconv.Itoa(limit)
	}
	now := projections.TS(s.now())
	cases := make([]string, len(rows))
	for i, row := range rows {
		row["overdue"] = row["due_by"].(string) < now
		cases[i] = row["case_id"].(string)
	}
	if !s.recordEach(w, r, p, why, "worklist", cases) {
		return
	}
	resp["follow_ups"] = rows
	writeJSON(w, resp)
}
