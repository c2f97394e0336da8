package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/caseledger/caseledger/eventstore"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// Log is the Merkle tree over the record's events in global order: the
// stored hashes in tlog's layout, and each leaf's event id and position.
// A Log opened on a directory keeps both in two append-only files there
// (fsynced by Sync, before a checkpoint is signed); a torn tail left by a
// crash is cut back to the last whole leaf on opening, and the leaves past
// it are read from the record again.
type Log struct {
	mu      sync.RWMutex
	hashes  []tlog.Hash
	leaves  []leafRef
	byEvent map[uuid.UUID]int64
	hf, lf  *os.File
	failed  error // a write that could not be undone: the log takes no more
}

type leafRef struct {
	id  uuid.UUID
	pos eventstore.Position
}

const (
	hashSize = 32
	refSize  = 32 // event id, commit, prepare
)

// NewMemory returns an empty log held in memory only (rebuilds, exports).
func NewMemory() *Log { return &Log{} }

// Open opens or creates the log's files in dir.
func Open(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := NewMemory()
	var err error
	if l.hf, err = os.OpenFile(filepath.Join(dir, "hashes"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if l.lf, err = os.OpenFile(filepath.Join(dir, "leaves"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		l.hf.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := l.load(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) load() error {
	lraw, err := io.ReadAll(l.lf)
	if err != nil {
		return fmt.Errorf("ledger: read leaves: %w", err)
	}
	hraw, err := io.ReadAll(l.hf)
	if err != nil {
		return fmt.Errorf("ledger: read hashes: %w", err)
	}
	n := int64(len(lraw) / refSize)
	for n > 0 && tlog.StoredHashCount(n) > int64(len(hraw)/hashSize) {
		n-- // the hashes of the last leaves did not reach the disk
	}
	for i := range n {
		b := lraw[i*refSize:]
		id, _ := uuid.FromBytes(b[:16])
		ref := leafRef{id: id, pos: eventstore.Position{Commit: binary.BigEndian.Uint64(b[16:]), Prepare: binary.BigEndian.Uint64(b[24:])}}
		if i > 0 && !l.leaves[i-1].pos.Less(ref.pos) {
			n = i // a damaged tail (zeros after a crash, say): read it again from the record
			break
		}
		l.leaves = append(l.leaves, ref)
	}
	count := tlog.StoredHashCount(n)
	l.hashes = make([]tlog.Hash, count)
	for i := range count {
		copy(l.hashes[i][:], hraw[i*hashSize:])
	}
	// Cut any torn or surplus tail, and write from there on.
	if err := l.lf.Truncate(n * refSize); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := l.hf.Truncate(count * hashSize); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if _, err := l.lf.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	_, err = l.hf.Seek(0, io.SeekEnd)
	return err
}

// Close closes the files.
func (l *Log) Close() error {
	if l.hf == nil {
		return nil
	}
	return errors.Join(l.hf.Close(), l.lf.Close())
}

// Size is the number of leaves.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return int64(len(l.leaves))
}

// Last is the position of the last leaf, or eventstore.Start.
func (l *Log) Last() eventstore.Position {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.leaves) == 0 {
		return eventstore.Start
	}
	return l.leaves[len(l.leaves)-1].pos
}

// Append adds the records as the next leaves; they must follow the last
// leaf in the record's global order.
func (l *Log) Append(recs []eventstore.Record) error {
	return l.appendHashed(recs, leafHashes(recs))
}

// leafHashes computes the records' leaf hashes.
func leafHashes(recs []eventstore.Record) []tlog.Hash {
	out := make([]tlog.Hash, len(recs))
	for i, r := range recs {
		out[i] = LeafOf(r).Hash()
	}
	return out
}

func (l *Log) appendHashed(recs []eventstore.Record, leaves []tlog.Hash) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	hashes, refs := l.hashes, l.leaves
	var hbuf, lbuf []byte
	for i, r := range recs {
		n := int64(len(refs))
		if n > 0 && !refs[n-1].pos.Less(r.Position) {
			return fmt.Errorf("ledger: record at %s does not follow the last leaf at %s", r.Position, refs[n-1].pos)
		}
		hs, err := tlog.StoredHashesForRecordHash(n, leaves[i], hashReader{hashes})
		if err != nil {
			return fmt.Errorf("ledger: leaf %d: %w", n, err)
		}
		hashes = append(hashes, hs...)
		refs = append(refs, leafRef{id: r.ID, pos: r.Position})
		if l.hf != nil {
			for _, h := range hs {
				hbuf = append(hbuf, h[:]...)
			}
			lbuf = append(lbuf, r.ID[:]...)
			lbuf = binary.BigEndian.AppendUint64(lbuf, r.Position.Commit)
			lbuf = binary.BigEndian.AppendUint64(lbuf, r.Position.Prepare)
		}
	}
	// The files first (hashes before leaves: a leaf whose hashes are
	// missing is cut on opening), then memory; a failed write is undone,
	// or the log refuses any more.
	if l.hf != nil {
		if err := l.write(hbuf, lbuf); err != nil {
			return err
		}
	}
	for i, r := range recs {
		if l.byEvent != nil {
			l.byEvent[r.ID] = int64(len(l.leaves) + i)
		}
	}
	l.hashes, l.leaves = hashes, refs
	return nil
}

func (l *Log) write(hbuf, lbuf []byte) error {
	hsize, lsize := int64(len(l.hashes))*hashSize, int64(len(l.leaves))*refSize
	_, err := l.hf.Write(hbuf)
	if err == nil {
		_, err = l.lf.Write(lbuf)
	}
	if err == nil {
		return nil
	}
	undo := errors.Join(l.hf.Truncate(hsize), l.lf.Truncate(lsize))
	if undo == nil {
		_, e1 := l.hf.Seek(hsize, io.SeekStart)
		_, e2 := l.lf.Seek(lsize, io.SeekStart)
		undo = errors.Join(e1, e2)
	}
	if undo != nil {
		l.failed = fmt.Errorf("ledger: the log's files could not be written nor restored (%v, then %v): restart to rebuild", err, undo)
		return l.failed
	}
	return fmt.Errorf("ledger: write: %w", err)
}

// Truncate cuts the log back to its first n leaves, in memory and in its
// files, so that what follows is read from the record again.
func (l *Log) Truncate(n int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= int64(len(l.leaves)) {
		return nil
	}
	count := tlog.StoredHashCount(n)
	if l.hf != nil {
		if err := errors.Join(l.lf.Truncate(n*refSize), l.hf.Truncate(count*hashSize)); err != nil {
			return fmt.Errorf("ledger: truncate: %w", err)
		}
		if _, err := l.lf.Seek(n*refSize, io.SeekStart); err != nil {
			return err
		}
		if _, err := l.hf.Seek(count*hashSize, io.SeekStart); err != nil {
			return err
		}
	}
	l.leaves, l.hashes, l.byEvent = l.leaves[:n], l.hashes[:count], nil
	return nil
}

// leafAt is the event id and position of leaf n, and its stored hash.
func (l *Log) leafAt(n int64) (uuid.UUID, eventstore.Position, tlog.Hash) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.leaves[n].id, l.leaves[n].pos, l.hashes[tlog.StoredHashIndex(0, n)]
}

// Sync makes the files durable.
func (l *Log) Sync() error {
	if l.hf == nil {
		return nil
	}
	return errors.Join(l.hf.Sync(), l.lf.Sync())
}

// CatchUp appends every record after the last leaf; fn, when given, sees
// each page first (the verifier checks chains there). Reading, hashing the
// leaves and growing the tree run as a pipeline, so a rebuild uses every
// core.
func (l *Log) CatchUp(ctx context.Context, store eventstore.Reader, fn func([]eventstore.Record) error) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		recs   []eventstore.Record
		leaves []tlog.Hash
		err    error
	}
	read := make(chan page, 2)
	hashed := make(chan page, 2)
	go func() {
		defer close(read)
		for after := l.Last(); ; {
			recs, err := store.ReadAll(ctx, after, 1000)
			if err == nil && len(recs) == 0 {
				return
			}
			select {
			case read <- page{recs: recs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			after = recs[len(recs)-1].Position
		}
	}()
	go func() {
		defer close(hashed)
		for p := range read {
			if p.err == nil && fn != nil {
				p.err = fn(p.recs)
			}
			if p.err == nil {
				p.leaves = leafHashes(p.recs)
			}
			select {
			case hashed <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	var n int64
	for p := range hashed {
		err := p.err
		if err == nil {
			err = l.appendHashed(p.recs, p.leaves)
		}
		if err != nil {
			cancel()
			for range hashed {
			}
			return n, err
		}
		n += int64(len(p.recs))
	}
	return n, ctx.Err()
}

// TreeHash is the root of the tree of the first n leaves.
func (l *Log) TreeHash(n int64) (tlog.Hash, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n > int64(len(l.leaves)) {
		return tlog.Hash{}, fmt.Errorf("ledger: tree of %d leaves asked of a log of %d", n, len(l.leaves))
	}
	return tlog.TreeHash(n, hashReader{l.hashes})
}

// Index is the leaf of an event.
// The index by event is built on first use: rebuilds and verification
// never need it.
func (l *Log) Index(id uuid.UUID) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byEvent == nil {
		l.byEvent = make(map[uuid.UUID]int64, len(l.leaves))
		for i, r := range l.leaves {
			l.byEvent[r.id] = int64(i)
		}
	}
	n, ok := l.byEvent[id]
	return n, ok
}

// ProveRecord proves leaf n is in the tree of size leaves.
func (l *Log) ProveRecord(n, size int64) (tlog.RecordProof, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if size > int64(len(l.leaves)) {
		return nil, fmt.Errorf("ledger: proof in a tree of %d leaves asked of a log of %d", size, len(l.leaves))
	}
	return tlog.ProveRecord(size, n, hashReader{l.hashes})
}

// ProveTree proves the tree of old leaves is a prefix of the tree of size.
func (l *Log) ProveTree(old, size int64) (tlog.TreeProof, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if size > int64(len(l.leaves)) {
		return nil, fmt.Errorf("ledger: proof to a tree of %d leaves asked of a log of %d", size, len(l.leaves))
	}
	return tlog.ProveTree(size, old, hashReader{l.hashes})
}

// hashReader reads stored hashes; the caller holds the lock.
type hashReader struct{ hashes []tlog.Hash }

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(r.hashes)) {
			return nil, fmt.Errorf("ledger: stored hash %d of %d", x, len(r.hashes))
		}
		out[i] = r.hashes[x]
	}
	return out, nil
}
