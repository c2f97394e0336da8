// Package witness is caseledger's transparency-log witness and its client
// (C2SP tlog-witness, tlog-cosignature v1 with Ed25519). A witness is an
// independent process with its own key and its own state, ideally on
// another host: it cosigns a log's checkpoint only when the checkpoint is
// signed by the log's key it trusts and is consistent with the last one it
// cosigned for that log, and it keeps that last one durably before
// answering. A log that rolls back or forks, even signed with its genuine
// key, gets no cosignature, and anyone who asks the witness for its latest
// view sees how far the log had grown.
//
// It never cosigns two inconsistent checkpoints of one log, never rolls its
// own state back, and never answers before its state is on disk.
package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/caseledger/caseledger/services/ledger"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxRequest bounds an add-checkpoint body: a checkpoint, its signatures
// and at most 63 proof lines.
const maxRequest = 64 << 10

// Witness cosigns the checkpoints of the logs it trusts.
type Witness struct {
	cosigner *Cosigner
	logs     map[string]note.Verifier // by origin
	path     string                   // state file

	mu    sync.Mutex
	state map[string]Seen
}

// Seen is the latest checkpoint a witness cosigned for a log: its size,
// root, and the checkpoint with the log's signature and the cosignature.
type Seen struct {
	Size int64  `json:"size"`
	Root string `json:"root"` // base64
	Note string `json:"note"`
}

// Open opens the witness whose state lives in dir (state.json, made when
// absent), signing with cosigner and trusting the logs' public keys.
func Open(dir string, cosigner *Cosigner, logs ...note.Verifier) (*Witness, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: state directory: %w", err)
	}
	w := &Witness{cosigner: cosigner, logs: map[string]note.Verifier{}, path: filepath.Join(dir, "state.json"), state: map[string]Seen{}}
	for _, l := range logs {
		w.logs[l.Name()] = l
	}
	raw, err := os.ReadFile(w.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: state: %w", err)
	default:
		if err := json.Unmarshal(raw, &w.state); err != nil {
			return nil, fmt.Errorf("witness: %s is not a witness state file: %v", w.path, err)
		}
	}
	return w, nil
}

// Latest returns the latest checkpoint the witness cosigned for origin.
func (w *Witness) Latest(origin string) (Seen, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.state[origin]
	return s, ok
}

// Refusal is why a witness refused a checkpoint, with the HTTP status the
// protocol gives it; Size is the witness's latest size on a 409.
type Refusal struct {
	Status int
	Reason string
	Size   int64
}

func (r *Refusal) Error() string { return "witness: " + r.Reason }

// Add checks a checkpoint (a signed note) submitted with the consistency
// proof from old, the size the log believes the witness last cosigned, and
// returns the witness's cosignature lines, or a *Refusal.
func (w *Witness) Add(old int64, proof []tlog.Hash, signed []byte) ([]byte, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	origin, _, _ := strings.Cut(string(text), "\n")
	verifier, known := w.logs[origin]
	if !ok || !known {
		return nil, &Refusal{Status: http.StatusNotFound, Reason: "unknown log " + strconv.Quote(origin)}
	}
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return nil, &Refusal{Status: http.StatusForbidden, Reason: "the checkpoint is not signed by the log's key"}
	}
	c, err := ledger.ParseCheckpoint(n.Text)
	if err != nil || c.Origin != origin {
		return nil, &Refusal{Status: http.StatusBadRequest, Reason: "not a checkpoint"}
	}
	if old < 0 || old > c.Size {
		return nil, &Refusal{Status: http.StatusBadRequest, Reason: "the old size is larger than the checkpoint's"}
	}
	// Checking against the state and keeping the new one are one step:
	// two submissions never both pass against the same old size.
	w.mu.Lock()
	defer w.mu.Unlock()
	seen, had := w.state[origin]
	if old != seen.Size {
		return nil, &Refusal{Status: http.StatusConflict, Reason: fmt.Sprintf("the witness last cosigned size %d, not %d", seen.Size, old), Size: seen.Size}
	}
	var root tlog.Hash
	if had {
		b, _ := base64.StdEncoding.DecodeString(seen.Root)
		copy(root[:], b)
	}
	switch {
	case old == 0 && len(proof) != 0:
		return nil, &Refusal{Status: http.StatusBadRequest, Reason: "a proof from size 0"}
	case old == c.Size && had && root != c.Root:
		return nil, &Refusal{Status: http.StatusConflict, Reason: fmt.Sprintf("a different root for size %d: the log forked", c.Size), Size: seen.Size}
	case old > 0 && old < c.Size:
		if err := tlog.CheckTree(proof, c.Size, c.Root, old, root); err != nil {
			return nil, &Refusal{Status: http.StatusUnprocessableEntity, Reason: fmt.Sprintf("the checkpoint of size %d is not consistent with the one of size %d the witness cosigned: the log was rewritten", c.Size, old)}
		}
	}
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.cosigner)
	if err != nil {
		return nil, err
	}
	_, lines, _ := bytes.Cut(cosigned, []byte("\n\n"))
	// The witness keeps the checkpoint with the log's verified signature
	// and its own cosignature only: whatever else a submitter put in the
	// note (any line, valid or not) is not kept, nor served to others.
	full := []byte(n.Text + "\n")
	for _, sig := range n.Sigs {
		full = append(full, "— "+sig.Name+" "+sig.Base64+"\n"...)
	}
	full = append(full, lines...)
	next := Seen{Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root[:]), Note: string(full)}
	if err := w.persist(origin, next); err != nil {
		return nil, err
	}
	return lines, nil
}

// persist writes the state with origin's new entry (a new file, synced,
// renamed over the old one, the directory synced), then keeps it in memory.
func (w *Witness) persist(origin string, s Seen) error {
	state := make(map[string]Seen, len(w.state)+1)
	for k, v := range w.state {
		state[k] = v
	}
	state[origin] = s
	raw, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	tmp := w.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("witness: state: %w", err)
	}
	_, err = f.Write(raw)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(w.path)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("witness: state not kept, nothing cosigned: %w", err)
	}
	w.state = state
	return nil
}

// Handler serves the witness: POST /add-checkpoint (C2SP tlog-witness) and
// GET /checkpoint?origin=… (the latest cosigned checkpoint of a log, for
// anyone who checks the log against the witness's view).
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxRequest))
		if err != nil {
			http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		old, proof, signed, err := ParseRequest(body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		lines, err := w.Add(old, proof, signed)
		var ref *Refusal
		switch {
		case errors.As(err, &ref) && ref.Status == http.StatusConflict:
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", ref.Size)
		case errors.As(err, &ref):
			http.Error(rw, ref.Reason, ref.Status)
		case err != nil:
			http.Error(rw, "the witness could not keep its state", http.StatusInternalServerError)
		default:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = rw.Write(lines)
		}
	})
	mux.HandleFunc("GET /checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		s, ok := w.Latest(r.URL.Query().Get("origin"))
		if !ok {
			http.Error(rw, "no checkpoint cosigned for this log", http.StatusNotFound)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, s.Note)
	})
	return mux
}

// Request is the body of an add-checkpoint request.
func Request(old int64, proof []tlog.Hash, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes()
}

// ParseRequest reads an add-checkpoint body; errors name what is wrong.
func ParseRequest(body []byte) (old int64, proof []tlog.Hash, signed []byte, err error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), maxRequest)
	read := 0
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		read += len(sc.Bytes()) + 1
		return sc.Text(), true
	}
	first, ok := line()
	size, found := strings.CutPrefix(first, "old ")
	if !ok || !found {
		return 0, nil, nil, errors.New("the first line must be: old SIZE")
	}
	if old, err = strconv.ParseInt(size, 10, 64); err != nil || old < 0 || strings.HasPrefix(size, "+") || (size != "0" && strings.HasPrefix(size, "0")) {
		return 0, nil, nil, errors.New("the old size is not a count")
	}
	for {
		l, ok := line()
		if !ok {
			return 0, nil, nil, errors.New("no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		raw, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(raw) != tlog.HashSize || len(proof) == 63 {
			return 0, nil, nil, errors.New("a proof line is not a base64 SHA-256 hash, or there are more than 63")
		}
		proof = append(proof, tlog.Hash(raw))
	}
	return old, proof, body[read:], nil
}
