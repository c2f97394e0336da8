package api

import (
	"cmp"
	"net/http"
	"strconv"

	"github.com/caseledger/caseledger/domain/access"
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
	assignee := cmp.Or(r.URL.Query().Get("assignee"), p.UserID)
	if len(assignee) > 128 {
		problem(w, http.StatusBadRequest, "invalid_assignee", "assignee is at most 128 characters")
		return
	}
	l := access.ForList(p, access.Worklist, assignee)
	if why := l.Denied(); why != "" {
		s.denyList(w, r, p, "worklist", why)
		return
	}
	pg, ok := listPage(w, r)
	if !ok {
		return
	}
	page, err := projections.ReadWorklist(r.Context(), s.db, l, assignee, pg, s.now())
	sendPage(s, w, r, p, why, "worklist", "follow_ups", page, err, map[string]any{"assignee": assignee})
}

// listPage reads ?limit= (1 to 1000, default 200) and ?after=, the opaque
// cursor a previous page gave, or answers 400.
func listPage(w http.ResponseWriter, r *http.Request) (projections.Page, bool) {
	pg := projections.Page{Limit: 200, After: r.URL.Query().Get("after")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problem(w, http.StatusBadRequest, "invalid_page", "limit must be a whole number from 1 to 1000")
			return pg, false
		}
		pg.Limit = n
	}
	return pg, true
}
