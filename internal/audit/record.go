package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event kinds of a Record.
const (
	KindCall      = "call"      // a decision on a tools/call
	KindStart     = "start"     // a Tollgate process started writing
	KindStop      = "stop"      // it stopped cleanly
	KindReload    = "reload"    // a policy reload was applied or rejected
	KindDropped   = "dropped"   // lines were dropped because the buffer was full
	KindLost      = "lost"      // lines were lost because writing failed
	KindRecovered = "recovered" // the previous file ended with a partial line
	KindServer    = "server"    // a server behind tollgate gateway came up or went down (result up|down)
)

// Record is one audit line. Fields that do not apply are omitted.
type Record struct {
	Time     time.Time `json:"time"`
	Event    string    `json:"event"`
	Instance string    `json:"instance"`

	// Calls.
	Session    string          `json:"session,omitempty"`
	Identity   string          `json:"identity,omitempty"`
	Server     string          `json:"server,omitempty"` // the server behind tollgate gateway
	Tool       string          `json:"tool,omitempty"`
	Decision   string          `json:"decision,omitempty"` // allow, deny, approval_required, approval_* steps
	Monitor    bool            `json:"monitor,omitempty"`  // recorded, not enforced (would-deny)
	Rule       string          `json:"rule,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Counters   []string        `json:"counters,omitempty"`
	Findings   []string        `json:"findings,omitempty"` // what inspect found and did
	Outcome    string          `json:"outcome,omitempty"`  // ok, error, tool_error, no_response
	LatencyMS  float64         `json:"latency_ms,omitempty"`
	ArgsSHA256 string          `json:"args_sha256,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
	Redacted   []string        `json:"redacted,omitempty"`
	StateError string          `json:"state_error,omitempty"`
	ApprovalID string          `json:"approval_id,omitempty"`
	Approver   string          `json:"approver,omitempty"`

	// Policy is the revision (SHA-256 of the policy file) in force.
	Policy string `json:"policy,omitempty"`

	// Start, reload and loss records.
	Start  *StartInfo `json:"start,omitempty"`
	Result string     `json:"result,omitempty"` // reload: ok, invalid, error; server: up, down
	File   string     `json:"file,omitempty"`   // reload: the policy file
	Errors []string   `json:"errors,omitempty"` // reload: the problems found
	Count  int64      `json:"count,omitempty"`  // dropped, lost
	Error  string     `json:"error,omitempty"`  // lost: the write error; server: why it went down

	// Chain.
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"`
}

// StartInfo describes a starting Tollgate. It never carries secrets: the
// state store is described by its kind and host only, and the server
// command by its program name.
type StartInfo struct {
	Version  string `json:"version,omitempty"`
	PID      int    `json:"pid,omitempty"`
	Host     string `json:"host,omitempty"`
	Policy   string `json:"policy_file,omitempty"`
	Mode     string `json:"mode,omitempty"`
	State    string `json:"state,omitempty"`
	Server   string `json:"server,omitempty"`
	Identity string `json:"identity,omitempty"`
}

// hashSuffixLen is len(`,"hash":"` + 64 hex + `"}`).
const hashSuffixLen = len(`,"hash":"`) + 64 + len(`"}`)

// encodeLine encodes r (whose Seq and Prev are set) as one chained line
// ending in '\n', and returns the line's hash.
func encodeLine(r *Record) (line []byte, hash string, err error) {
	r.Hash = ""
	line, err = appendLine(nil, r, r.Seq, []byte(r.Prev), nil)
	if err != nil {
		return nil, "", err
	}
	return line, string(lineHashOf(line)), nil
}

var errNoHash = errors.New(`line does not end with a "hash" member`)

// lineHash checks a line's own hash (line without its '\n'): it returns the
// hash the line claims and whether the line's content still has that hash.
func lineHash(line []byte) (claimed string, intact bool, err error) {
	n := len(line)
	if n < hashSuffixLen+2 || !bytes.HasPrefix(line[n-hashSuffixLen:], []byte(`,"hash":"`)) || !bytes.HasSuffix(line, []byte(`"}`)) {
		return "", false, errNoHash
	}
	claimed = string(line[n-hashSuffixLen+len(`,"hash":"`) : n-2])
	if _, err := hex.DecodeString(claimed); err != nil || len(claimed) != 64 {
		return "", false, errNoHash
	}
	h := sha256.New()
	h.Write(line[:n-hashSuffixLen])
	h.Write([]byte("}"))
	return claimed, hex.EncodeToString(h.Sum(nil)) == claimed, nil
}

// ParseLine decodes one audit line (without its '\n').
func ParseLine(line []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("parse audit line: %w", err)
	}
	return &r, nil
}
