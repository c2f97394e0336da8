package schema

import (
	"fmt"
	"strings"

	"github.com/caseledger/caseledger/domain"
	"github.com/caseledger/caseledger/services/intake"
	"github.com/caseledger/caseledger/services/natsbus"
)

func ref(to string) obj { return obj{"$ref": to} }

// intakeChannel is the channel id of a command's intake subject.
func intakeChannel(name string) string { return "intake_" + name }

// asyncAPI is the AsyncAPI 3.0 document of caseledger's NATS interface, as
// seen from caseledger: it receives commands and sends outcomes, rejections
// and events. Payload schemas are the JSON Schema files beside it.
func asyncAPI() obj {
	names := domain.CommandNames()
	channels, operations, messages := obj{}, obj{}, obj{}
	for _, name := range names {
		t := domain.CommandGoType(name)
		ch := intakeChannel(name)
		messages[name] = obj{
			"name":          name,
			"title":         t.Name(),
			"summary":       "The " + name + " command.",
			"contentType":   "application/json",
			"headers":       ref("#/components/schemas/IntakeHeaders"),
			"payload":       ref("schemas/commands/" + name + ".json"),
			"correlationId": ref("#/components/correlationIds/commandId"),
		}
		channels[ch] = obj{
			"address":            natsbus.IntakeSubject(name),
			"title":              t.Name(),
			"x-jetstream-stream": natsbus.IntakeStream,
			"messages":           obj{name: ref("#/components/messages/" + name)},
		}
		operations["receive_"+name] = obj{
			"action":  "receive",
			"channel": ref("#/channels/" + ch),
			"summary": "Receive the " + name + " command.",
			"description": "Emitters publish " + name + " commands here through JetStream (stream " + natsbus.IntakeStream + "). " +
				"ingest decides each against its case and appends the events it produces; when the command carries a " +
				natsbus.HeaderReplyTo + " header, ingest answers there with an Outcome.",
			"messages": []any{ref("#/channels/" + ch + "/messages/" + name)},
			"reply":    ref("#/components/replies/outcome"),
		}
	}
	commandParam := append(append([]string{}, names...), unknownCommand)

	channels["outcome"] = obj{
		"address": nil,
		"title":   "Outcome",
		"description": "The inbox an emitter named in the " + natsbus.HeaderReplyTo + " header of its command. " +
			"Its address is only known at run time.",
		"messages": obj{"outcome": ref("#/components/messages/outcome")},
	}
	messages["outcome"] = obj{
		"name":          "outcome",
		"title":         "Outcome",
		"summary":       "ingest's answer to a command: accepted or rejected.",
		"contentType":   "application/json",
		"payload":       ref("schemas/outcome.json"),
		"correlationId": ref("#/components/correlationIds/commandId"),
	}

	var compartments, streams []string
	for _, c := range natsbus.EventCompartments {
		compartments = append(compartments, string(c))
		streams = append(streams, natsbus.EventStream(c))
	}
	channels["caseEvents"] = obj{
		"address":            natsbus.EventsPrefix + "{compartment}.{caseId}.{eventType}",
		"title":              "Case events",
		"x-jetstream-stream": strings.Join(streams, ", "),
		"description": "Every committed case event, in the store's order, published once (the event id is its Nats-Msg-Id), " +
			"in the stream of its compartment (" + strings.Join(streams, ", ") + "). A reader identity reads only its " +
			"compartments' streams and subjects (reader-police: police, shared; reader-social_work: social_work, shared; " +
			"reader-shared: shared), and every reader reads " + natsbus.EventStream(domain.CompartmentSealed) + ", which holds the " +
			"envelopes of sealed entries (ids, type, version, hashes) and never their data or metadata. " +
			"The event type holds a dot, so it spans the last two subject tokens: subscribe to " + natsbus.EventsPrefix +
			"police.<caseId>.> for one case's police events, or " + natsbus.EventsPrefix + "shared.*.case.referral_sent for one type.",
		"parameters": obj{
			"compartment": obj{"description": "The event's compartment when it was recorded.", "enum": compartments},
			"caseId":      obj{"description": "The case id (a uuid)."},
			"eventType":   obj{"description": "The event type string.", "enum": caseEventTypes()},
		},
		"messages": obj{"caseEvent": ref("#/components/messages/caseEvent")},
	}
	messages["caseEvent"] = obj{
		"name":        "caseEvent",
		"title":       "Relayed event",
		"summary":     "A committed case event with its chain link.",
		"contentType": "application/json",
		"headers":     ref("#/components/schemas/CaseEventHeaders"),
		"payload":     ref("schemas/relayed-event.json"),
		"description": "data and metadata are the exact stored bytes. data is at metadata.schema_version, which may be older " +
			"than the current version of the type (schemas/events/<type>.json, x-schema-version): " +
			"case.risk_assessment_completed was written at version 1 (a level of low, moderate or high) before version 2 (band and items).",
	}
	operations["sendCaseEvent"] = obj{
		"action":   "send",
		"channel":  ref("#/channels/caseEvents"),
		"summary":  "Publish every committed case event.",
		"messages": []any{ref("#/channels/caseEvents/messages/caseEvent")},
	}

	channels["rejected"] = obj{
		"address":            natsbus.RejectedPrefix + "{command}",
		"title":              "Rejected commands",
		"x-jetstream-stream": natsbus.RejectedStream,
		"description":        "Every refused command, with its reason: nothing sent to caseledger is dropped.",
		"parameters": obj{
			"command": obj{"description": "The command name of the intake subject; \"unknown\" when it names none.", "enum": commandParam},
		},
		"messages": obj{"rejectedCommand": ref("#/components/messages/rejectedCommand")},
	}
	messages["rejectedCommand"] = obj{
		"name":    "rejectedCommand",
		"title":   "Rejected command",
		"summary": "A refused command and why.",
		"headers": ref("#/components/schemas/RejectedHeaders"),
		"payload": obj{"description": "The message exactly as received on the intake subject: usually the command's JSON, " +
			"but possibly not JSON at all (code malformed) or too large (code too_large)."},
	}
	operations["sendRejected"] = obj{
		"action":   "send",
		"channel":  ref("#/channels/rejected"),
		"summary":  "File a refused command with its reason.",
		"messages": []any{ref("#/channels/rejected/messages/rejectedCommand")},
	}

	return obj{
		"asyncapi": "3.0.0",
		"info": obj{
			"title":       "caseledger",
			"version":     "1.0.0",
			"description": description(),
		},
		"defaultContentType": "application/json",
		"servers": obj{
			"caseledger": obj{
				"host":     "127.0.0.1:4222",
				"protocol": "nats",
				"description": "The NATS server `caseledger serve` embeds (--nats-listen, default 127.0.0.1:4222), " +
					"or the NATS cluster it joins with --nats-url; credentials and TLS are the operator's.",
			},
		},
		"channels":   channels,
		"operations": operations,
		"components": obj{
			"messages": messages,
			"schemas": obj{
				"IntakeHeaders":    intakeHeaders(),
				"CaseEventHeaders": caseEventHeaders(),
				"RejectedHeaders":  rejectedHeaders(),
			},
			"correlationIds": obj{
				"commandId": obj{
					"description": "A command and its Outcome carry the same command_id.",
					"location":    "$message.payload#/command_id",
				},
			},
			"replyAddresses": obj{
				"replyToHeader": obj{
					"description": "The inbox the emitter subscribed to before publishing. The reply subject of the publish " +
						"itself gets JetStream's acknowledgement that the command is stored, not the outcome.",
					"location": "$message.header#/" + natsbus.HeaderReplyTo,
				},
			},
			"replies": obj{
				"outcome": obj{
					"address":  ref("#/components/replyAddresses/replyToHeader"),
					"channel":  ref("#/channels/outcome"),
					"messages": []any{ref("#/channels/outcome/messages/outcome")},
				},
			},
		},
	}
}

func description() string {
	d := natsbus.Defaults
	lines := []string{
		"caseledger is the system of record for conjugal and domestic violence case files. Emitting services send it " +
			"commands over NATS; it records the events they produce and publishes every committed event.",
		"",
		"- **Commands**: publish the command's JSON on `" + natsbus.IntakePrefix + "<command>` through JetStream (stream " +
			natsbus.IntakeStream + ": work queue, file storage). Set `" + natsMsgID + "` to the command_id: JetStream then " +
			fmt.Sprintf("drops a repeat within its duplicate window (%g hours by default), ", d.DedupWindow.Hours()) +
			"and ingest absorbs a later repeat too, answering with the stored result (duplicate: true).",
		"- **Outcome**: to learn whether a command was recorded, subscribe to an inbox and name it in the `" +
			natsbus.HeaderReplyTo + "` header; ingest publishes one Outcome there (schemas/outcome.json) once it has " +
			"decided the command. Without the header the publish is fire-and-forget with at-least-once delivery.",
		"- **Rejections**: a refused command is also filed on `" + natsbus.RejectedPrefix + "<command>` (stream " +
			natsbus.RejectedStream + ") with its original bytes and the reason in headers. Nothing is dropped.",
		"- **Events**: every committed case event is published on `" + natsbus.EventsPrefix + "<compartment>.<caseId>.<eventType>` " +
			"(one stream per compartment, CASE_EVENTS_<COMPARTMENT>: limits, deny delete, deny purge) with the event id as `" + natsMsgID + "`; " +
			"a sealed entry as its envelope only.",
		"- **Identities**: the server takes no anonymous client. Each identity is a NATS creds file issued by caseledger " +
			"(KEYS_DIR/nats/<role>.creds) and may subscribe to its own inboxes only: connect with the inbox prefix `_INBOX.<name>` " +
			"(nats.go CustomInboxPrefix, the nats CLI's --inbox-prefix). Commands must also be signed by a registered emitter.",
		fmt.Sprintf("- **Size**: %s stores messages up to %s; ingest rejects a command over %s with code too_large.",
			natsbus.IntakeStream, kib(int64(d.MaxMsgSize)), ingestMaxBody),
		"- **Privacy**: subjects and headers carry ids, codes and type names only. Schema members marked " +
			"`x-personal-data: true` hold personal data: keep them out of logs.",
		"- **Schemas**: the payload schemas are JSON Schema draft 2020-12 files that use only keywords meaning the same " +
			"in draft-07 (the AsyncAPI Schema Object), their `$defs` reached by local JSON pointers.",
	}
	return strings.Join(lines, "\n")
}

func header(description string, s obj) obj {
	s["description"] = description
	return s
}

func intakeHeaders() obj {
	return obj{
		"type": "object",
		"properties": obj{
			natsMsgID: header("The command_id: JetStream drops a second message with the same id within the stream's duplicate window.",
				obj{"type": "string", "format": "uuid"}),
			natsbus.HeaderReplyTo: header("An inbox subject: ingest publishes the command's Outcome there.",
				obj{"type": "string"}),
			intake.HeaderEmitter: header("The emitting system that signed the command (required when caseledger runs with an emitters registry; the command's source_system must be the same).",
				obj{"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"}),
			intake.HeaderSignature: header("Base64 Ed25519 signature, by the emitter's key, of \"caseledger/intake/v1\" 0x00, the subject, 0x00 and the exact body.",
				obj{"type": "string"}),
		},
	}
}

func caseEventHeaders() obj {
	return obj{
		"type":     "object",
		"required": []any{natsMsgID, natsbus.HeaderPosition, headerVersion},
		"properties": obj{
			natsMsgID: header("The event id.", obj{"type": "string", "format": "uuid"}),
			natsbus.HeaderPosition: header("The event's position in the store's global log (commit/prepare); the relay resumes after the last one.",
				obj{"type": "string", "pattern": positionFormat}),
			headerVersion: header("The event's version in its case stream, from 0, in decimal.",
				obj{"type": "string", "pattern": "^[0-9]+$"}),
		},
	}
}

func rejectedHeaders() obj {
	return obj{
		"type":     "object",
		"required": []any{natsbus.HeaderCode, natsbus.HeaderField, natsbus.HeaderReason, headerSubject},
		"properties": obj{
			natsbus.HeaderCode:   header("Why the command was refused, as a code.", stringEnum(rejectionCodes)),
			natsbus.HeaderField:  header("The JSON path of the member at fault; empty when none.", obj{"type": "string"}),
			natsbus.HeaderReason: header("A fixed reason; it never repeats a value of the command.", obj{"type": "string"}),
			headerSubject:        header("The intake subject the command came on.", obj{"type": "string"}),
			natsMsgID: header("intake-<INTAKE stream sequence>-<the time INTAKE stored it, Unix nanoseconds>: one entry per intake message, whatever its redeliveries.",
				obj{"type": "string", "pattern": "^intake-[0-9]+-[0-9]+$"}),
		},
	}
}

// kib renders a size in KiB or MiB.
func kib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
