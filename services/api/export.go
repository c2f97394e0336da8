package api

import (
	"archive/zip"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/caseledger/caseledger/domain/access"
	"github.com/caseledger/caseledger/services/disclosure"
	"github.com/caseledger/caseledger/services/ledger"
)

// Ledger gives the API what a disclosure export needs: the Merkle log, up
// to date with the record, and the key that checks the checkpoints.
type Ledger struct {
	Tree func(ctx context.Context) (*ledger.Log, error)
	Keys ledger.Keys
}

// WithLedger enables the auditors' export endpoint.
func (s *Server) WithLedger(l *Ledger) *Server {
	s.ledger = l
	return s
}

// getExport writes the case's disclosure bundle and sends it as a zip:
// auditors only; social-work and sealed entries only under a production
// order recorded on the case (?order=). The read is recorded first, like
// every read of the case.
func (s *Server) getExport(w http.ResponseWriter, r *http.Request, p Principal) {
	if s.ledger == nil {
		problem(w, http.StatusServiceUnavailable, "ledger_unavailable", "this server has no ledger to prove the bundle with")
		return
	}
	a, ok := s.caseRead(w, r, p, readSpec{surface: access.Export, section: "export", fromRecord: true})
	if !ok {
		return
	}
	tree, err := s.ledger.Tree(r.Context())
	if err != nil {
		s.fail(w, r, during(errLedger, err))
		return
	}
	dir, err := os.MkdirTemp("", "caseledger-export-")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bundle")
	res, err := disclosure.Export(r.Context(), disclosure.Source{Store: s.store, Tree: tree, Keys: s.ledger.Keys},
		disclosure.Options{CaseID: a.id, Reader: p, OrderID: orderOf(a.pol), Out: out, Now: s.now(), DataKeys: s.dataKeys()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="case-`+a.id.String()+`.zip"`)
	w.Header().Set("Caseledger-Bundle-SHA256", res.ManifestSHA256)
	zw := zip.NewWriter(w)
	_ = filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zf, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = io.Copy(zf, f)
		return err
	})
	_ = zw.Close()
}

func orderOf(p access.Policy) uuid.UUID {
	id, _ := p.Order()
	return id
}

// dataKeys gives the bundle the keys of what it discloses, when this API
// holds them.
func (s *Server) dataKeys() disclosure.DataKeys {
	if s.keys == nil {
		return nil
	}
	return s.keys
}
