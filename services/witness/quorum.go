package witness

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/caseledger/caseledger/services/ledger"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Quorum has a log's checkpoints cosigned by its witnesses, remembering the
// size each last cosigned so that it sends the right consistency proof.
type Quorum struct {
	Clients []*Client
	N       int // cosignatures needed

	mu    sync.Mutex
	sizes map[*Client]int64
}

// ErrRolledBack is returned when a witness has cosigned a larger tree than
// the log now holds, or a different one at a size it holds: the record was
// rolled back or forked, whatever was deleted locally.
var ErrRolledBack = errors.New("witness: the log no longer extends what a witness cosigned")

// Cosign implements ledger.Cosign.
func (q *Quorum) Cosign(ctx context.Context, signed []byte, size int64, prove func(old int64) ([]tlog.Hash, error)) ([]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sizes == nil {
		q.sizes = map[*Client]int64{}
	}
	var (
		lines []byte
		errs  []error
		got   int
	)
	submit := func(c *Client, old int64) ([]byte, error) {
		var proof []tlog.Hash
		if old > 0 && old < size {
			p, err := prove(old)
			if err != nil {
				return nil, err
			}
			proof = p
		}
		return c.Submit(ctx, old, proof, signed)
	}
	for _, c := range q.Clients {
		l, err := submit(c, q.sizes[c])
		var conflict *ConflictError
		if errors.As(err, &conflict) {
			if conflict.Size > size {
				errs = append(errs, fmt.Errorf("%w: witness %s cosigned %d leaves, this checkpoint has %d", ErrRolledBack, c.Verifier.Name(), conflict.Size, size))
				continue
			}
			l, err = submit(c, conflict.Size)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		q.sizes[c] = size
		lines = append(lines, l...)
		got++
	}
	if got < q.N {
		return nil, fmt.Errorf("witness: %d of %d witnesses cosigned, %d needed: %w", got, len(q.Clients), q.N, errors.Join(errs...))
	}
	return lines, nil
}

var _ ledger.Cosign = (*Quorum)(nil).Cosign

// View is one witness's latest cosigned checkpoint of a log, as checked
// against the log rebuilt from the record.
type View struct {
	Witness string
	Size    int64 // 0 when the witness cosigned nothing yet
	Err     error // ErrRolledBack, or why the witness could not be asked
}

// Check asks every witness for the latest checkpoint it cosigned of the
// log origin (signed by logKey) and compares it with the log as rebuilt
// from the record (size leaves, treeHash of any size): a witness that saw
// more leaves, or another root at a size the log holds, proves a rollback
// or a fork even when checkpoints and ledger files were deleted too.
func Check(ctx context.Context, clients []*Client, logKey note.Verifier, size int64, treeHash func(n int64) (tlog.Hash, error)) []View {
	out := make([]View, 0, len(clients))
	for _, c := range clients {
		v := View{Witness: c.Verifier.Name()}
		raw, err := c.Latest(ctx, logKey.Name())
		switch {
		case err != nil:
			v.Err = err
		case raw == nil:
		default:
			cp, err := ledger.OpenCheckpoint(raw, logKey)
			if err != nil {
				v.Err = fmt.Errorf("witness %s: its latest checkpoint is not the log's: %v", v.Witness, err)
				break
			}
			v.Size = cp.Size
			if cp.Size > size {
				v.Err = fmt.Errorf("%w: witness %s cosigned %d leaves, the record holds %d: %d were removed", ErrRolledBack, v.Witness, cp.Size, size, cp.Size-size)
				break
			}
			root, err := treeHash(cp.Size)
			if err != nil {
				v.Err = err
			} else if root != cp.Root {
				v.Err = fmt.Errorf("%w: witness %s cosigned root %s at %d leaves, the record gives %s: the log was rewritten", ErrRolledBack, v.Witness,
					base64.StdEncoding.EncodeToString(cp.Root[:]), cp.Size, base64.StdEncoding.EncodeToString(root[:]))
			}
		}
		out = append(out, v)
	}
	return out
}
