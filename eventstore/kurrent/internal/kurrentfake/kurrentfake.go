// Package kurrentfake is a FAKE of KurrentDB's gRPC Streams service, for
// tests only: no KurrentDB or EventStoreDB server can run where caseledger's
// CI runs, and the kurrent adapter still has to be exercised through the real
// client library (github.com/kurrent-io/KurrentDB-Client-Go) over real gRPC.
//
// It implements only what that adapter calls, with the semantics KurrentDB
// documents or shows in its source:
//
//   - ServerFeatures.GetSupportedMethods: a server version and the v1 Streams
//     read and append methods, nothing else (no batch append, no v2
//     multi-stream append), so the client uses v1 Streams.Append;
//   - Streams.Append (v1, client streaming): expected revision checks
//     (revision, no stream, any, stream exists) and idempotent writes as
//     KurrentDB's commit check does them, the maximum append size, and the
//     required "type" and "content-type" metadata;
//   - Streams.Read: a stream forwards or backwards with a count; $all forwards
//     with a count from the start or a position (inclusive), optionally
//     filtered; and subscriptions to $all (catch-up, then live) with the
//     confirmation first, filter checkpoints, and a caught-up message.
//
// Each event gets its own position in the log, commit and prepare equal, as a
// KurrentDB node gives events written outside explicit transactions; an
// append answers with the position of its last event. Everything lives in
// memory. The fake is never imported by non-test code and must never be used
// as a store: it has no durability, no security and no cluster.
package kurrentfake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/serverfeatures"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/shared"
	"github.com/kurrent-io/KurrentDB-Client-Go/protos/kurrentdb/protocols/v1/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// DefaultMaxAppendSize is KurrentDB's default maximum size of one append
// (--max-append-size, 1 MiB).
const DefaultMaxAppendSize = 1 << 20

// Options configure a fake server.
type Options struct {
	// MaxAppendSize bounds the summed size of the events of one append, as
	// KurrentDB's --max-append-size does. Zero means DefaultMaxAppendSize.
	MaxAppendSize int
}

// Server is a running fake. Its zero value is not usable: call Start.
type Server struct {
	addr string
	grpc *grpc.Server

	streams.UnimplementedStreamsServer
	features featuresServer

	maxAppendSize int

	mu      sync.Mutex
	log     []*event            // every event, in log order
	byName  map[string][]*event // per stream, index = event number
	next    uint64              // the log position the next event gets
	changed chan struct{}       // closed and replaced on every append
}

type event struct {
	id          uuid.UUID
	stream      string
	number      uint64
	eventType   string
	contentType string
	data        []byte
	meta        []byte
	created     int64 // .NET ticks (100 ns) since the Unix epoch, as KurrentDB sends them
	pos         uint64
}

// Start starts a fake on 127.0.0.1 on a free port. The log begins with a few
// system events, as a fresh KurrentDB's does, so that readers of $all meet
// events that are not theirs.
func Start(opts Options) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kurrentfake: listen: %w", err)
	}
	s := &Server{
		addr:          lis.Addr().String(),
		maxAppendSize: opts.MaxAppendSize,
		byName:        map[string][]*event{},
		next:          128,
		changed:       make(chan struct{}),
	}
	if s.maxAppendSize <= 0 {
		s.maxAppendSize = DefaultMaxAppendSize
	}
	for _, sys := range []struct{ stream, typ string }{
		{"$settings", "$settings"},
		{"$user-admin", "$UserCreated"},
		{"$users", "$User"},
	} {
		s.write(sys.stream, []*event{{id: uuid.New(), eventType: sys.typ, contentType: "application/json", data: []byte(`{}`)}})
	}
	s.features = featuresServer{}
	// KurrentDB accepts messages larger than gRPC's 4 MiB default: the
	// client's own receive limit is 17 MiB.
	s.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(17<<20), grpc.MaxSendMsgSize(17<<20))
	streams.RegisterStreamsServer(s.grpc, s)
	serverfeatures.RegisterServerFeaturesServer(s.grpc, s.features)
	go func() { _ = s.grpc.Serve(lis) }()
	return s, nil
}

// Addr is the host:port the fake listens on.
func (s *Server) Addr() string { return s.addr }

// ConnectionString is a client connection string for the fake (no TLS, no
// credentials).
func (s *Server) ConnectionString() string { return "kurrentdb://" + s.addr + "?tls=false" }

// Close stops the fake at once, ending open reads and subscriptions.
func (s *Server) Close() { s.grpc.Stop() }

// featuresServer answers the client's first call on every connection.
type featuresServer struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists v1 Streams read and append only. The client
// turns "batchappend", "appendsession" and "appendrecords" into feature flags
// (impl.go, getSupportedMethods); AppendToStream uses v1 Append whatever the
// flags say, and leaving the others out keeps every other path off too.
func (featuresServer) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const svc = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: "24.10.0",
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: svc, MethodName: "read"},
			{ServiceName: svc, MethodName: "append"},
		},
	}, nil
}

// write appends events to stream; the caller holds s.mu or owns s.
func (s *Server) write(stream string, evs []*event) {
	now := time.Now().UnixNano() / 100
	for _, e := range evs {
		e.stream = stream
		e.number = uint64(len(s.byName[stream]))
		e.created = now
		e.pos = s.next
		// Advance by a plausible record size so that positions have gaps,
		// as they do in a real transaction log.
		s.next += uint64(64 + len(stream) + len(e.eventType) + len(e.data) + len(e.meta))
		s.byName[stream] = append(s.byName[stream], e)
		s.log = append(s.log, e)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// Append implements v1 Streams.Append.
func (s *Server) Append(srv grpc.ClientStreamingServer[streams.AppendReq, streams.AppendResp]) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || opts.GetStreamIdentifier() == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var evs []*event
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := req.GetProposedMessage()
		if pm == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		typ, ok := pm.GetMetadata()["type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'type' is missing")
		}
		ct, ok := pm.GetMetadata()["content-type"]
		if !ok {
			return status.Error(codes.InvalidArgument, "Required Metadata Property 'content-type' is missing")
		}
		id, err := fromProtoUUID(pm.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, "invalid event id")
		}
		// KurrentDB counts an event's size on disk; type, data and metadata
		// are what varies.
		size += len(typ) + len(pm.GetData()) + len(pm.GetCustomMetadata())
		if size > s.maxAppendSize {
			// KurrentDB throws while still reading the request.
			return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", s.maxAppendSize)
		}
		evs = append(evs, &event{
			id:          id,
			eventType:   typ,
			contentType: ct,
			data:        append([]byte(nil), pm.GetData()...),
			meta:        append([]byte(nil), pm.GetCustomMetadata()...),
		})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	current := int64(len(s.byName[stream])) - 1
	resp, write := s.check(stream, current, opts, evs)
	if write && len(evs) > 0 {
		s.write(stream, evs)
		last := evs[len(evs)-1]
		resp = success(int64(last.number), last.pos)
	} else if write {
		resp = success(current, 0)
	}
	return srv.SendAndClose(resp)
}

// check applies the expected revision and KurrentDB's idempotency rules. It
// returns either a response to send without writing, or write = true.
func (s *Server) check(stream string, current int64, opts *streams.AppendReq_Options, evs []*event) (*streams.AppendResp, bool) {
	switch exp := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		return s.checkAt(stream, current, int64(exp.Revision), opts, evs)
	case *streams.AppendReq_Options_NoStream:
		return s.checkAt(stream, current, -1, opts, evs)
	case *streams.AppendReq_Options_StreamExists:
		if current < 0 {
			return wrongVersion(opts, current), false
		}
		return s.checkAny(stream, current, opts, evs)
	default: // Any
		return s.checkAny(stream, current, opts, evs)
	}
}

// checkAt handles an exact expectation: at the expected revision it writes;
// behind it, events that match the request one for one are an idempotent
// retry, anything else is a wrong expected version.
func (s *Server) checkAt(stream string, current, expected int64, opts *streams.AppendReq_Options, evs []*event) (*streams.AppendResp, bool) {
	if current == expected {
		return nil, true
	}
	if current > expected && len(evs) > 0 {
		stored := s.byName[stream]
		from := expected + 1
		if from+int64(len(evs))-1 <= current {
			match := true
			for i, e := range evs {
				if stored[from+int64(i)].id != e.id {
					match = false
					break
				}
			}
			if match {
				last := stored[from+int64(len(evs))-1]
				return success(int64(last.number), last.pos), false
			}
		}
	}
	return wrongVersion(opts, current), false
}

// checkAny handles Any and StreamExists: KurrentDB looks the first event id up
// among recently committed events (a cache; the fake looks at the whole
// stream). Found with all the others following it, the append is an
// idempotent retry; found without them, the idempotency is "corrupted" and
// KurrentDB answers wrong expected version; not found, it writes.
func (s *Server) checkAny(stream string, current int64, opts *streams.AppendReq_Options, evs []*event) (*streams.AppendResp, bool) {
	if len(evs) == 0 {
		return nil, true
	}
	stored := s.byName[stream]
	at := -1
	for i, e := range stored {
		if e.id == evs[0].id {
			at = i
			break
		}
	}
	if at < 0 {
		return nil, true
	}
	for i, e := range evs {
		if at+i >= len(stored) || stored[at+i].id != e.id {
			return wrongVersion(opts, current), false
		}
	}
	last := stored[at+len(evs)-1]
	return success(int64(last.number), last.pos), false
}

func success(revision int64, pos uint64) *streams.AppendResp {
	ok := &streams.AppendResp_Success{}
	if revision < 0 {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		ok.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		ok.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(revision)}
		// KurrentDB's WriteEvents manager reports the commit position twice.
		ok.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: pos, PreparePosition: pos}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: ok}}
}

// wrongVersion fills both the current and the 20.6.0 fields, as KurrentDB
// does.
func wrongVersion(opts *streams.AppendReq_Options, current int64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	switch exp := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.Revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.Revision}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	if current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(current)}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read implements v1 Streams.Read for the combinations the adapter uses.
func (s *Server) Read(req *streams.ReadReq, srv grpc.ServerStreamingServer[streams.ReadResp]) error {
	o := req.GetOptions()
	if o == nil || o.GetUuidOption() == nil {
		return status.Error(codes.InvalidArgument, "'uuidOption' is a required argument")
	}
	asString := o.GetUuidOption().GetString_() != nil
	filter, err := newFilter(o)
	if err != nil {
		return err
	}
	switch so := o.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		count, isCount := o.GetCountOption().(*streams.ReadReq_Options_Count)
		if !isCount || filter != nil {
			return status.Error(codes.Unimplemented, "kurrentfake: stream subscriptions and filtered stream reads are not implemented")
		}
		return s.readStream(so.Stream, o.GetReadDirection(), count.Count, asString, srv)
	case *streams.ReadReq_Options_All:
		if o.GetReadDirection() != streams.ReadReq_Options_Forwards {
			return status.Error(codes.Unimplemented, "kurrentfake: reading $all backwards is not implemented")
		}
		switch co := o.GetCountOption().(type) {
		case *streams.ReadReq_Options_Count:
			return s.readAll(so.All, co.Count, filter, asString, srv)
		case *streams.ReadReq_Options_Subscription:
			return s.subscribeAll(so.All, filter, asString, srv)
		}
	}
	return status.Error(codes.InvalidArgument, "invalid combination of read options")
}

func (s *Server) readStream(o *streams.ReadReq_Options_StreamOptions, dir streams.ReadReq_Options_ReadDirection, count uint64, asString bool, srv grpc.ServerStreamingServer[streams.ReadResp]) error {
	name := string(o.GetStreamIdentifier().GetStreamName())
	s.mu.Lock()
	stored := s.byName[name]
	s.mu.Unlock()
	if len(stored) == 0 {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
			StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)}},
		}})
	}
	n := uint64(len(stored))
	var out []*event
	if dir == streams.ReadReq_Options_Forwards {
		var from uint64
		switch r := o.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = r.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			from = n
		}
		for i := from; i < n && uint64(len(out)) < count; i++ {
			out = append(out, stored[i])
		}
	} else {
		from := int64(n) - 1
		switch r := o.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = min(int64(r.Revision), int64(n)-1)
		case *streams.ReadReq_Options_StreamOptions_Start:
			from = 0
		}
		for i := from; i >= 0 && uint64(len(out)) < count; i-- {
			out = append(out, stored[i])
		}
	}
	for _, e := range out {
		if err := srv.Send(readEvent(e, asString)); err != nil {
			return err
		}
	}
	return nil
}

// startIndex finds where a read or subscription of $all begins: the index of
// the first event at or after (inclusive) or after (exclusive) a position.
// A position that is neither an event's nor the end of the log is refused, as
// KurrentDB refuses to read from an invalid position.
func (s *Server) startIndex(o *streams.ReadReq_Options_AllOptions, inclusive bool) (int, error) {
	switch a := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_End:
		return len(s.log), nil
	case *streams.ReadReq_Options_AllOptions_Position:
		c, p := a.Position.GetCommitPosition(), a.Position.GetPreparePosition()
		if c != p {
			return 0, status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
		}
		i := sort.Search(len(s.log), func(i int) bool { return s.log[i].pos >= c })
		switch {
		case i < len(s.log) && s.log[i].pos == c:
			if !inclusive {
				i++
			}
			return i, nil
		case i == len(s.log) && c >= s.next, c == 0:
			return i, nil
		}
		return 0, status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")
	}
	return 0, nil // start
}

func (s *Server) readAll(o *streams.ReadReq_Options_AllOptions, count uint64, f *filter, asString bool, srv grpc.ServerStreamingServer[streams.ReadResp]) error {
	s.mu.Lock()
	from, err := s.startIndex(o, true)
	log := s.log
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var sent uint64
	for i := from; i < len(log) && sent < count; i++ {
		if !f.match(log[i]) {
			continue
		}
		if err := srv.Send(readEvent(log[i], asString)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// subscribeAll sends the confirmation, then every event after the starting
// point as it is stored and as it is appended. Catch-up and live are one
// loop over the log under the lock, so there is no gap and no duplicate at
// the switch. With a filter it sends a checkpoint every window × multiplier
// events scanned, as KurrentDB does, and one when it catches up.
func (s *Server) subscribeAll(o *streams.ReadReq_Options_AllOptions, f *filter, asString bool, srv grpc.ServerStreamingServer[streams.ReadResp]) error {
	s.mu.Lock()
	next, err := s.startIndex(o, false)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}}); err != nil {
		return err
	}
	ctx := srv.Context()
	every := 0
	if f != nil {
		every = f.checkpointEvery
	}
	scanned := 0
	var lastScanned *event
	caughtUp := false
	for {
		s.mu.Lock()
		batch := s.log[next:min(next+256, len(s.log))]
		changed := s.changed
		var head *event
		if len(s.log) > 0 {
			head = s.log[len(s.log)-1]
		}
		s.mu.Unlock()
		if len(batch) == 0 {
			if !caughtUp {
				caughtUp = true
				if f != nil && lastScanned != nil {
					if err := srv.Send(checkpoint(lastScanned.pos)); err != nil {
						return err
					}
				}
				cu := &streams.ReadResp_CaughtUp{Timestamp: timestamppb.Now()}
				if head != nil {
					cu.Position = &streams.ReadResp_Position{CommitPosition: head.pos, PreparePosition: head.pos}
				}
				if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: cu}}); err != nil {
					return err
				}
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		for _, e := range batch {
			next++
			lastScanned = e
			if f.match(e) {
				if err := srv.Send(readEvent(e, asString)); err != nil {
					return err
				}
			}
			if every > 0 {
				scanned++
				if scanned%every == 0 {
					if err := srv.Send(checkpoint(e.pos)); err != nil {
						return err
					}
				}
			}
		}
	}
}

func checkpoint(pos uint64) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition: pos, PreparePosition: pos, Timestamp: timestamppb.Now(),
	}}}
}

// readEvent encodes an event the way KurrentDB does: system metadata in the
// map ("type", "content-type", "created" in ticks), user metadata as bytes,
// and the $all position on the event and on the read event (KurrentDB fills
// it for stream reads too since 22.x, for events outside explicit
// transactions).
func readEvent(e *event, asString bool) *streams.ReadResp {
	rec := &streams.ReadResp_ReadEvent_RecordedEvent{
		Id:               toProtoUUID(e.id, asString),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.stream)},
		StreamRevision:   e.number,
		PreparePosition:  e.pos,
		CommitPosition:   e.pos,
		Metadata: map[string]string{
			"type":         e.eventType,
			"content-type": e.contentType,
			"created":      strconv.FormatInt(e.created, 10),
		},
		CustomMetadata: e.meta,
		Data:           e.data,
	}
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event:    rec,
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.pos},
	}}}
}

// filter is a $all filter on stream names or event types, by prefixes or a
// regular expression (RE2 here, .NET's in KurrentDB: simple patterns only).
type filter struct {
	onType          bool
	prefixes        []string
	re              *regexp.Regexp
	checkpointEvery int
}

func newFilter(o *streams.ReadReq_Options) (*filter, error) {
	fo := o.GetFilter()
	if fo == nil {
		return nil, nil
	}
	f := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch x := fo.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = x.StreamIdentifier
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr, f.onType = x.EventType, true
	default:
		return nil, status.Error(codes.InvalidArgument, "invalid filter")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "invalid filter expression")
		}
		f.re = re
	}
	window := 32 // KurrentDB's default search window
	if m, ok := fo.GetWindow().(*streams.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	f.checkpointEvery = window * int(max(fo.GetCheckpointIntervalMultiplier(), 1))
	return f, nil
}

func (f *filter) match(e *event) bool {
	if f == nil {
		return true
	}
	s := e.stream
	if f.onType {
		s = e.eventType
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func toProtoUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: int64(most), LeastSignificantBits: int64(least),
	}}}
}

func fromProtoUUID(u *shared.UUID) (uuid.UUID, error) {
	if st := u.GetStructured(); st != nil {
		var id uuid.UUID
		most, least := uint64(st.GetMostSignificantBits()), uint64(st.GetLeastSignificantBits())
		for i := 7; i >= 0; i-- {
			id[i], id[8+i] = byte(most), byte(least)
			most >>= 8
			least >>= 8
		}
		return id, nil
	}
	return uuid.Parse(u.GetString_())
}
