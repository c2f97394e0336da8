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

// Send stores the command in INTAKE and waits until ingest answers (or ctx
// ends). A rejected command returns the Outcome and an error wrapping
// ErrRejected. Sending the same command again is safe: ingest recognises it
// by its command id and answers with the stored result (Duplicate).
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
	m := &nats.Msg{Subject: natsbus.IntakeSubject(name), Data: body, Header: nats.Header{}}
	m.Header.Set(natsbus.HeaderReplyTo, inbox)
	tracing.Inject(ctx, m.Header)
	if c.signer != nil {
		c.signer.sign(m)
	}
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		return Outcome{}, fmt.Errorf("intake: publish %s: %w", name, err)
	}
	reply, err := sub.NextMsgWithContext(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("intake: waiting for the outcome of %s (it is stored and will be processed): %w", name, err)
	}
	var o Outcome
	if err := json.Unmarshal(reply.Data, &o); err != nil {
		return Outcome{}, fmt.Errorf("intake: unreadable outcome: %w", err)
	}
	if !o.Accepted {
		return o, fmt.Errorf("%w: %s: %s (field %s)", ErrRejected, o.Code, o.Reason, o.Field)
	}
	return o, nil
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
