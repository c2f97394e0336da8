// Package intake is the Go client for services that emit commands to
// caseledger over NATS (the 911/CAD bridge, the records system, a shelter's
// intake desk, the social worker's app).
//
//	nc, _ := intake.Dial("nats://caseledger:4222", nats.UserCredentials("cad.creds"), nats.RootCAs("ca.pem"))
//	c, _ := intake.New(nc)
//	out, err := c.Send(ctx, domain.OpenCase{...})   // waits for accepted or rejected
//	ack, err := c.Publish(ctx, domain.AddNote{...}) // durable fire-and-forget
//
// Both go through the INTAKE stream, so a command survives a caseledger
// restart. Send asks ingest for the outcome; Publish only waits for JetStream
// to store the command, deduplicated by its command id. Sending a command
// again, after a timeout or a crash, is how an emitter retries: ingest
// recognises it by its command id and answers with the stored result.
//
// It is the emitter's side only: it never decides a command nor touches the
// record, so an outcome is what ingest answered, never a guess. Subjects
// and headers carry the command name, ids, the trace and the signature
// only; personal data travels in the message body alone.
package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/natsbus"
	"github.com/caseledger/caseledger/services/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Outcome is ingest's answer to a command.
type Outcome = natsbus.Outcome

// ErrRejected is wrapped by Send's error when ingest refused the command;
// the Outcome says why.
var ErrRejected = errors.New("intake: command rejected")

// Client sends commands. It is safe for concurrent use.
type Client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	signer *Signer
	// Resend is how long Send waits for an answer before it publishes the
	// command again (default 5s, doubling up to 30s).
	Resend time.Duration
	// OnRetry, when set, is told why Send tries again (for a progress
	// display); it must not block.
	OnRetry func(cause error)
}

// WithSigner makes the client sign every command as the given emitter.
func (c *Client) WithSigner(s *Signer) *Client {
	d := *c
	d.signer = s
	return &d
}

// Dial connects to NATS with caseledger's reconnect policy; opts carry
// credentials (nats.UserCredentials, nats.UserInfo, nats.Nkey…) and TLS
// (nats.RootCAs, nats.ClientCert, nats.Secure).
func Dial(url string, opts ...nats.Option) (*nats.Conn, error) {
	return natsbus.Connect(url, "caseledger-intake-client", opts...)
}

// New returns a client on a connection.
func New(nc *nats.Conn) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	return &Client{nc: nc, js: js}, nil
}

// ErrTooLarge is returned, before anything is sent, for a command larger
// than caseledger takes (natsbus.MaxCommandSize).
var ErrTooLarge = errors.New("intake: the command is larger than caseledger takes")

func encode(cmd domain.Command) (string, []byte, error) {
	name, body, err := domain.EncodeCommand(cmd)
	if err != nil {
		return "", nil, fmt.Errorf("intake: %w", err)
	}
	if len(body) > natsbus.MaxCommandSize {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(body), natsbus.MaxCommandSize)
	}
	return name, body, nil
}

// ErrNotAnswered is wrapped by Send's error when ctx ended before ingest
// answered: the command may or may not be recorded, and sending it again
// is safe (it is recorded once).
var ErrNotAnswered = errors.New("intake: no outcome yet")

// ErrStoreUnavailable is wrapped by the cause of a retry: NATS did not
// store the command, or ingest answered that the record cannot be written
// now (the command waits in INTAKE).
var ErrStoreUnavailable = errors.New("store_unavailable")

// Send stores the command in INTAKE and waits until ingest answers, or ctx
// ends (then the error wraps ErrNotAnswered). It survives caseledger and
// NATS restarts: it publishes with the command id as Nats-Msg-Id, so that a
// retried publish is stored once; it publishes again when no answer comes
// (the connection reconnects by itself), and waits on while ingest
// answers that the record cannot be written (store_unavailable). A
// command recorded before is answered with the stored result (Duplicate).
// A rejected command returns the Outcome and an error wrapping ErrRejected.
func (c *Client) Send(ctx context.Context, cmd domain.Command) (Outcome, error) {
	name, body, err := encode(cmd)
	if err != nil {
		return Outcome{}, err
	}
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return Outcome{}, fmt.Errorf("intake: %w", err)
	}
	defer sub.Unsubscribe()
	id := cmd.Head().CommandID.String()
	m := &nats.Msg{Subject: natsbus.IntakeSubject(name), Data: body, Header: nats.Header{}}
	m.Header.Set(natsbus.HeaderReplyTo, inbox)
	m.Header.Set(nats.MsgIdHdr, id)
	tracing.Inject(ctx, m.Header)
	if c.signer != nil {
		c.signer.sign(m)
	}
	var (
		cause   error // why the last attempt did not end in an outcome
		stored  bool  // this call's message is in INTAKE
		publish = true
		heard   bool // an interim answer came since the last publish
		wait    = c.resend()
		pause   = 250 * time.Millisecond
	)
	for {
		if publish {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			ack, err := c.js.PublishMsg(pctx, m)
			cancel()
			switch {
			case err != nil && ctx.Err() != nil:
				return Outcome{}, notAnswered(name, stored, cause)
			case err != nil:
				cause = publishCause(c.nc, err)
				c.retried(cause)
				if !sleep(ctx, pause) {
					return Outcome{}, notAnswered(name, stored, cause)
				}
				pause = min(2*pause, 2*time.Second)
				continue
			case ack.Duplicate && !heard:
				// Stored before and not heard of since: by an earlier
				// call, whose outcome may be long given, or by this one,
				// with the answer lost while the connection was down. A
				// copy under an id of its own makes ingest answer here (it
				// records the command once, whatever the copies).
				m.Header.Set(nats.MsgIdHdr, id+"."+nats.NewInbox()[len(nats.InboxPrefix):])
				stored = true
				continue
			}
			stored, publish, heard, pause = true, false, false, 250*time.Millisecond
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		reply, err := sub.NextMsgWithContext(wctx)
		cancel()
		if ctx.Err() != nil {
			return Outcome{}, notAnswered(name, stored, cause)
		}
		if err != nil {
			// No answer within wait: ingest or NATS restarted, or the
			// answer was lost. Publish again (deduplicated).
			cause = errors.New("no answer from caseledger yet")
			c.retried(cause)
			publish, wait = true, min(2*wait, 30*time.Second)
			continue
		}
		var o Outcome
		if err := json.Unmarshal(reply.Data, &o); err != nil {
			return Outcome{}, fmt.Errorf("intake: unreadable outcome: %w", err)
		}
		if o.Retrying {
			cause, heard = fmt.Errorf("%w: %s", ErrStoreUnavailable, o.Reason), true
			c.retried(cause)
			continue
		}
		if !o.Accepted {
			return o, fmt.Errorf("%w: %s: %s (field %s)", ErrRejected, o.Code, o.Reason, o.Field)
		}
		return o, nil
	}
}

// publishCause says why a publish to INTAKE failed: NATS out of reach, or
// JetStream not storing (down, or its store full).
func publishCause(nc *nats.Conn, err error) error {
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS %s: %w", strings.ToLower(st.String()), err)
	}
	return fmt.Errorf("%w: NATS did not store the command: %v", ErrStoreUnavailable, err)
}

func notAnswered(name string, stored bool, cause error) error {
	where := "it was not stored"
	if stored {
		where = "it is stored and will be processed"
	}
	if cause == nil {
		return fmt.Errorf("%w for %s (%s)", ErrNotAnswered, name, where)
	}
	return fmt.Errorf("%w for %s (%s; last: %w)", ErrNotAnswered, name, where, cause)
}

func (c *Client) resend() time.Duration {
	if c.Resend > 0 {
		return c.Resend
	}
	return 5 * time.Second
}

func (c *Client) retried(cause error) {
	if c.OnRetry != nil {
		c.OnRetry(cause)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Publish stores the command in INTAKE and returns once JetStream has it;
// a second publish of the same command id within the duplicate window is
// dropped by JetStream, and after it by ingest.
func (c *Client) Publish(ctx context.Context, cmd domain.Command) (*jetstream.PubAck, error) {
	name, body, err := encode(cmd)
	if err != nil {
		return nil, err
	}
	m := &nats.Msg{Subject: natsbus.IntakeSubject(name), Data: body, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, cmd.Head().CommandID.String())
	tracing.Inject(ctx, m.Header)
	if c.signer != nil {
		c.signer.sign(m)
	}
	ack, err := c.js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("intake: publish %s: %w", name, err)
	}
	return ack, nil
}
