package ucan

import (
	"strings"
	"unicode/utf8"
)

// MaxCommandBytes bounds the length of a command.
const MaxCommandBytes = 1024

// CommandRevoke is the command of a revocation (see the package doc).
const CommandRevoke = "/ucan/revoke"

// ValidCommand reports whether cmd is a syntactically valid command: it
// begins with "/", has no trailing "/" (except "/" itself), no empty
// segment, and no upper-case letter (spec: Command, Segment Structure).
func ValidCommand(cmd string) bool {
	if cmd == "/" {
		return true
	}
	if len(cmd) < 2 || len(cmd) > MaxCommandBytes || cmd[0] != '/' || cmd[len(cmd)-1] == '/' {
		return false
	}
	if !utf8.ValidString(cmd) || strings.Contains(cmd, "//") {
		return false
	}
	return strings.ToLower(cmd) == cmd
}

// CommandCovers reports whether a delegation of parent proves child: parent
// is "/", equal to child, or a whole-segment prefix of it ("/repo" covers
// "/repo/create" but not "/repository").
func CommandCovers(parent, child string) bool {
	if parent == "/" || parent == child {
		return true
	}
	return len(child) > len(parent) && strings.HasPrefix(child, parent) && child[len(parent)] == '/'
}

// IsReservedCommand reports whether cmd is in the reserved /ucan namespace
// (regex ^/ucan/.*, and /ucan itself).
func IsReservedCommand(cmd string) bool {
	return cmd == "/ucan" || strings.HasPrefix(cmd, "/ucan/")
}
