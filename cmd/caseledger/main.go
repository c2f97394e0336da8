// Command caseledger is the one binary of caseledger: it wires the domain,
// the event store, NATS and the read models, and does nothing else.
//
//	caseledger serve | emit | demo | replay | verify | project | keygen | schemas
//
// `caseledger help` describes each. Later subcommands (export, bench) land
// with the issues that build them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "caseledger:", err)
		switch {
		case errors.Is(err, errUsage):
			os.Exit(2)
		case errors.Is(err, errRejected):
			os.Exit(3)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in how caseledger was called.
var errUsage = errors.New("usage")

const usage = `caseledger keeps conjugal and domestic violence case files as immutable events.

Usage:
  caseledger serve [--data-dir DIR] [--nats-listen HOST:PORT | --nats-url URL]
                   [--eventstore-url URL] [--readmodel-url URL]
                   [--role all|ingest|relay|project|api] [--emitters FILE]
                   [--keys-dir DIR] [--nats-creds FILE] [--allow-unsigned] [--insecure-anonymous]
                   [--http-listen HOST:PORT] [--tokens FILE]
                   [--oidc-issuer URL --oidc-audience AUD --oidc-jwks-url URL]
      run caseledger: an embedded NATS server with JetStream (unless --nats-url),
      the store, ingest (NATS intake to the record), relay (the record to
      caseledger.events.*) and the read models; Ctrl-C drains and stops.
      On first start it writes the NATS identities (KEYS_DIR/nats/*.creds) and
      the local emitter's signing key (KEYS_DIR/emitters/); the keys directory
      defaults to ./caseledger-keys beside the data directory
  caseledger emit --command NAME [FILE] | --demo N [--seed S] [--nats-url URL] [--creds FILE]
      send one command (JSON from FILE or stdin) or the commands of N generated
      cases to caseledger over NATS, signed; by default with the emitter creds
      and local emitter key serve wrote; exit 3 when caseledger rejects a command
  caseledger demo [--cases N] [--seed S] [--show K] [--data-dir DIR]
      generate N synthetic cases through the domain rules, append them to the
      store, and print the timeline of one (who, what, when, compartment)
  caseledger replay CASE_ID [--as-recorded-at T | --as-occurred-at T | --as-of-position P]
      print a case's events from the store and check its chain; with a cut,
      the case as recorded then, or as it had happened by then as known now
  caseledger erase --case ID | --person PERSON_ID --reason REF --as USER [--rule R] [--agency A]
      erase a case's personal data, or a person's in every case where they are
      a party: record case.personal_data_erased, then destroy the data keys
      (refused under an active legal hold); every chain and proof stays valid;
      rerun safely if interrupted
  caseledger subject-report --person PERSON_ID --as USER [--purpose P] [--out FILE]
      what the record holds about one person (right of access), their own
      values in clear, others' and the case's free text withheld; each case
      read leaves an access record
  caseledger retention plan|run [--rules FILE] [--as-of DATE] [--as USER]
      what the retention rules erase today and why (plan), or erase it (run:
      each case's erasure event, then its key; safe to interrupt and rerun)
  caseledger rotate-master-key [--data-dir DIR] [--keys-dir DIR]
      wrap every personal data key again under a new master key (serve
      stopped); the old master key opens nothing afterwards
  caseledger verify [--data-dir DIR] [--pubkey FILE]
      walk every chain in the store, rebuild the Merkle log and check every
      signed checkpoint against it; exits non-zero on any break
  caseledger witness --dir DIR --log-key FILE [--listen HOST:PORT] [--name NAME]
  caseledger witness pubkey [--name NAME]
      run a witness (its own key in KEYS_DIR/witness, its own state in DIR)
      that cosigns the log's checkpoints only when consistent with the last
      it cosigned (C2SP tlog-witness); or print its public key
  caseledger store restore-schema [--data-dir DIR] [--operator NAME]
      put back the embedded store's immutability triggers and indexes after
      an insider altered them (serve refuses to write until then), and
      record in the store who did it and what was found
  caseledger ledger pubkey [--ledger-key FILE] [--ledger-origin NAME]
      print the public key that checks the log's signed checkpoints
  caseledger ledger status [--witnesses FILE]
      print the log rebuilt from the record, its last signed checkpoint and
      whether witnesses cosigned it, and each witness's latest view
  caseledger ledger prove EVENT_ID | ledger consistency SIZE SIZE [--pubkey FILE]
      print (JSON) an event's inclusion proof in the newest signed checkpoint,
      or the consistency proof between two signed checkpoints
  caseledger backup --out DIR [--data-dir DIR]
      copy the embedded store, read models and ledger keys while caseledger
      runs (SQLite VACUUM INTO: one consistent snapshot each)
  caseledger restore --from DIR --data-dir NEW_DIR
      put a backup into an empty data directory, then verify every file,
      every chain and the Merkle log against every signed checkpoint
  caseledger export CASE_ID --out DIR [--order ORDER_ID] [--pubkey FILE]
      write the case's disclosure bundle (exact stored events, chain, Merkle
      proofs, signed checkpoint, access log, report.html and report.pdf);
      social-work and sealed entries only under a recorded production order
  caseledger project [--rebuild case_files] [--data-dir DIR]
      bring the read models (DIR/readmodels.db) up to date with the record,
      or rebuild one from position zero
  caseledger keygen --emitter ID --agencies A,B [--out DIR]
      make an emitter's signing key (DIR/ID.key) and print its registry entry
      for KEYS_DIR/emitters/registry.json; emit signs with --emitter ID --key FILE
  caseledger schemas [--out DIR]
      write docs/asyncapi.yaml and docs/schemas/ (JSON Schemas of every command
      and event) from the Go types; CI checks they are current
  caseledger creds issue ROLE NAME [--expires D] | creds revoke FILE | creds list
      issue a NATS identity (KEYS_DIR/nats/NAME.creds) of a role: emitter,
      reader-police, reader-social_work, reader-shared, ops, ingest, relay,
      ledger, service; or revoke one (a running serve drops it within seconds)
  caseledger natsconf [--keys-dir DIR]
      print the nats-server configuration (operator, account, revocations) that
      makes an external cluster trust the keys directory's identities
  caseledger health [URL]
      exit 0 only if URL (default http://127.0.0.1:9464/readyz) answers 200
  caseledger help

The data directory defaults to ./caseledger-data (env CASELEDGER_DATA_DIR);
the store, NATS, role and API settings also come from CASELEDGER_*
environment variables (see README); flags win.
`

// run is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no subcommand", errUsage)
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "emit":
		return runEmit(ctx, args[1:], getenv, stdout, stderr, stdin)
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "project":
		return runProject(ctx, args[1:], getenv, stdout, stderr)
	case "keygen":
		return runKeygen(ctx, args[1:], getenv, stdout, stderr)
	case "schemas":
		return runSchemas(ctx, args[1:], getenv, stdout, stderr)
	case "replay":
		return runReplay(ctx, args[1:], getenv, stdout, stderr)
	case "erase":
		return runErase(ctx, args[1:], getenv, stdout, stderr)
	case "subject-report":
		return runSubjectReport(ctx, args[1:], getenv, stdout, stderr)
	case "retention":
		return runRetention(ctx, args[1:], getenv, stdout, stderr)
	case "rotate-master-key":
		return runRotateMasterKey(ctx, args[1:], getenv, stdout, stderr)
	case "ledger":
		return runLedger(ctx, args[1:], getenv, stdout, stderr)
	case "health":
		return runHealth(ctx, args[1:], getenv, stdout, stderr)
	case "natsconf":
		return runNATSConf(ctx, args[1:], getenv, stdout, stderr)
	case "creds":
		return runCreds(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return runVerify(ctx, args[1:], getenv, stdout, stderr)
	case "store":
		return runStore(ctx, args[1:], getenv, stdout, stderr)
	case "witness":
		return runWitness(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
}
