// Command townhall inspects, verifies and operates atproto community repos
// from a terminal: DRISL and JSON, CAR files, MSTs, UCAN tokens, did:plc
// operations and audit logs, lexicon validation, and keys; and it hosts
// communities and acts in them as a member.
//
// Usage:
//
//	townhall <command> <subcommand> [flags] [args]
//
// Run `townhall help` for the list. Every read command takes --json.
//
// # Communities
//
// account and community keep a host's state in a home directory, so that a
// sequence of calls works offline: --home DIR, else $TOWNHALL_HOME, else
// ~/.townhall. It holds the host's SQLite store (repo.db, private.db), a
// local did:plc directory (plc.db: plc's embeddable directory, called in
// process), the host's keys (host-signing.key, host-rotation.key) and the
// local test PDS's accounts (accounts.json, accounts/NAME.key), keys with
// mode 0600, and the list of communities held (communities). The home and
// its databases are for its owner only: a home with group or other
// permissions is refused. Files holding private data (audience backups,
// bundles, proofs, invitations) are written 0600; exports and audit logs
// 0644. Members sign with session key files made by 'townhall key gen'.
//
//	townhall account create NAME                      a local PDS account (did:plc, key)
//	townhall account token NAME --aud DID [--ttl D]    a service-auth JWT from it
//	townhall community create --name N --account A --key K --recovery R [--role-def NAME=COLL,...[@AUD]] [--join-role R]
//	townhall community join --account A --key K [--invite F | --service-auth JWT]
//	townhall community grant --key MOD --to did:key:... --member DID --role R -o INVITE
//	townhall community revoke --key MOD (--session did:key:... | --delegation CID)
//	townhall community ban --key MOD --member DID
//	townhall community write --key K --collection NSID [--rkey K] [--update | --delete] [--audience A] < record.json
//	townhall community audience --key MOD --audience A --readers ROLE,...   a private audience
//	townhall community read --key K --audience A [-o BACKUP.car]            read it (and back it up)
//	townhall community list --collection NSID | get --collection NSID --rkey K | info
//	townhall community did-doc | audit-log
//	townhall community export -o F.car [--audit-log F.json]   (progress on a terminal's stderr; --progress, -q)
//	townhall community import F.car --audit-log F.json --recovery KEY [--audience-car BACKUP.car] [--commit CID]   (a migration here)
//	townhall community prove | bundle --collection NSID --rkey K -o F
//	townhall verify record F.car --collection NSID --rkey K (--did-doc F | --key K --did DID)
//	townhall verify bundle F (--did-doc F | --key K --did DID) [--audit-log F]
//	townhall verify audience F.car --audience A (--did-doc F | --key K --did DID)
//
// Every community subcommand takes --community DID (default: the only
// community in the home). A real PDS and plc.directory are not reached:
// the accounts are local, and so is the directory (an import loads the
// DID's audit log into it first, where a real host would read
// plc.directory).
//
// Exit codes, which scripts can rely on:
//
//	0  success
//	1  the input was checked and is not valid (verification, validation or parse failure)
//	2  usage error (unknown command, bad flags, missing arguments)
//	3  I/O error (a file or database could not be read or written), or the
//	   command was interrupted (Ctrl-C, SIGTERM) before it finished
//
// Errors are one line on stderr, saying what failed and what to do. Ctrl-C
// (or SIGTERM) cancels the running command, which stops at its next
// cancellable step (a SQLite transaction rolls back); a second Ctrl-C
// kills the process at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"modernc.org/sqlite"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1
	exitUsage   = 2
	exitIO      = 3
)

// exitError carries an exit code and a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

func invalidErr(format string, a ...any) error {
	return &exitError{code: exitInvalid, msg: fmt.Sprintf(format, a...)}
}

func ioErr(format string, a ...any) error {
	return &exitError{code: exitIO, msg: fmt.Sprintf(format, a...)}
}

// env is what a command reads and writes; tests and main give their own.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"key", "generate a key file (0600) or print a key file's did:key", runKey},
		{"drisl", "decode DRISL to atproto JSON, or encode JSON to DRISL", runDrisl},
		{"car", "inspect or verify a repository CAR file", runCAR},
		{"mst", "inspect the Merkle Search Tree of a repository CAR", runMST},
		{"ucan", "inspect a UCAN delegation or invocation token", runUCAN},
		{"plc", "inspect a did:plc operation, or validate an audit log", runPLC},
		{"lexicon", "validate a record against a directory of lexicon schemas", runLexicon},
		{"account", "local test PDS accounts (create, token, list) that members join with", runAccount},
		{"community", "host and act in communities: create, join, grant, revoke, ban, write, list, get, info,\n            did-doc, audit-log, export, import, prove, bundle, audience, read", runCommunity},
		{"verify", "verify a record proof, an authorship bundle or an audience backup against a DID document or key", runVerify},
	}
}

func main() {
	ctx, stop := interruptContext()
	e := &env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	code := run(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// interruptContext returns a context cancelled by the first Ctrl-C
// (os.Interrupt) or SIGTERM; after it, the signals' default action is
// back, so a second Ctrl-C kills the process.
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// run executes one command line and returns the exit code.
func run(e *env, args []string) int {
	err := dispatch(e, args)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if e.ctx != nil && e.ctx.Err() != nil {
		// Interrupted: whatever the command made of its cancelled
		// context, it did not finish.
		code, msg = exitIO, "interrupted: "+msg
	}
	fmt.Fprintf(e.stderr, "townhall: %s\n", msg)
	return code
}

// exitCode maps a command's error to the documented exit codes: an
// *exitError carries its own; a failure to read or write a file or a
// database (*fs.PathError, *os.LinkError, *os.SyscallError, syscall.Errno,
// a SQLite error) or a cancelled context anywhere in the chain is an I/O
// error (3); anything else is input that was checked and is not valid (1).
func exitCode(err error) int {
	var xe *exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	var (
		pe *fs.PathError
		le *os.LinkError
		se *os.SyscallError
		en syscall.Errno
		qe *sqlite.Error
	)
	switch {
	case errors.As(err, &pe), errors.As(err, &le), errors.As(err, &se), errors.As(err, &en), errors.As(err, &qe),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return exitIO
	}
	return exitInvalid
}

func dispatch(e *env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(e.stdout)
		if len(args) == 0 {
			return usageErr("no command given: run 'townhall help'")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	return usageErr("unknown command %q: run 'townhall help' for the list", args[0])
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "townhall: inspect, verify and operate atproto community repos")
	fmt.Fprintln(w, "\nusage: townhall <command> <subcommand> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, homeHelp)
	fmt.Fprintln(w, "\nexit codes: 0 ok, 1 invalid input, 2 usage error, 3 I/O error or interrupted")
}

// subcommand picks args[0] among the names, or returns a usage error listing them.
func subcommand(cmd string, args []string, names ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageErr("%s needs a subcommand: one of %s", cmd, strings.Join(names, ", "))
	}
	for _, n := range names {
		if args[0] == n {
			return n, args[1:], nil
		}
	}
	return "", nil, usageErr("unknown subcommand %q for %s: one of %s", args[0], cmd, strings.Join(names, ", "))
}
