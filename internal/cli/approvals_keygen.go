package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/visible"
)

// trustModelDoc is where a refused approval points the person.
const trustModelDoc = "docs/approvals.md#trust-model"

// noApproversHelp is what approve says when the policy lists nobody.
const noApproversHelp = `the policy lists no approvers, so held calls can only be approved inline in the MCP client.
To approve from here, create your key once (it asks for a passphrase; nothing is stored):

  tollgate approvals keygen --name NAME

and add the line it prints to the policy under approvals.approvers. See ` + trustModelDoc

// runKeygen is `tollgate approvals keygen --name NAME`: it derives the
// approver's key from a passphrase and prints the public key for the
// policy. The private key is never written anywhere.
func runKeygen(e env, f *approvalsFlags) int {
	name := strings.TrimSpace(f.name)
	if name == "" {
		fmt.Fprintln(e.stderr, "tollgate approvals keygen: say whose key it is with --name NAME (the name the policy will list)")
		return exitUsage
	}
	if !approval.ValidApproverName(name) {
		fmt.Fprintf(e.stderr, "tollgate approvals keygen: --name %q must be 1 to 64 letters, digits, '.', '_', '@' or '-'\n", name)
		return exitUsage
	}
	pass, err := readPassphrase(f.passFile, fmt.Sprintf("New passphrase for approver %s (at least %d characters): ", name, approval.MinPassphrase), true)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate approvals keygen: %v\n", err)
		return exitFail
	}
	key, err := approval.DeriveKey(name, pass)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate approvals keygen: %v\n", err)
		return exitFail
	}
	pub := approval.FormatPublicKey(key.Public().(ed25519.PublicKey))
	fmt.Fprintf(e.stderr, "Add this to the policy; your passphrase is the private key: it is not stored, and nobody can approve as %s without it.\n", name)
	fmt.Fprintf(e.stdout, "approvals:\n  approvers:\n    %s: %s\n", name, pub)
	return exitOK
}

// readPassphrase reads a passphrase from file (its first line) or, with no
// file, from the terminal (/dev/tty) with echo off. An agent's shell tool
// has no terminal, and the person sees the prompt when it has one. confirm
// asks twice.
func readPassphrase(file, prompt string, confirm bool) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimSuffix(line, "\r"), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("read passphrase: no terminal to ask on (%w); the person approving types it, or use --passphrase-file", err)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("read passphrase: %s is not a terminal: %w", tty.Name(), err)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ECHONL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", fmt.Errorf("read passphrase: turn echo off: %w", err)
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	rd := bufio.NewReader(tty)
	ask := func(p string) (string, error) {
		fmt.Fprint(tty, p)
		line, err := rd.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("read passphrase: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pass, err := ask(prompt)
	if err != nil || !confirm {
		return pass, err
	}
	again, err := ask("Repeat it: ")
	if err != nil {
		return "", err
	}
	if again != pass {
		return "", errors.New("read passphrase: the two passphrases differ")
	}
	return pass, nil
}

// approverFor picks who signs: --approver, else the policy's only
// approver, else $USER if the policy lists it. Without a policy (-c) it
// must be given.
func approverFor(f *approvalsFlags, keys map[string]ed25519.PublicKey, havePolicy bool) (string, error) {
	name := strings.TrimSpace(f.approver)
	if name == "" && len(keys) == 1 {
		for n := range keys {
			name = n
		}
	}
	if name == "" && havePolicy {
		name = defaultApprover()
	}
	if name == "" {
		return "", errors.New("say who approves with --approver NAME (or give the policy with -c)")
	}
	if havePolicy {
		if _, ok := keys[name]; !ok {
			names := make([]string, 0, len(keys))
			for n := range keys {
				names = append(names, n)
			}
			sort.Strings(names)
			return "", fmt.Errorf("the policy lists no approver %q (it lists %s); pass --approver NAME", name, strings.Join(names, ", "))
		}
	}
	return name, nil
}

// signApproval shows the call a person is about to approve, checks that
// the record is one a proxy made (its fingerprint is that of the call it
// shows; with the policy, it lives no longer than approvals.timeout), asks
// for approver's passphrase, derives the key, checks it against the
// policy's key when there is one, and signs r.
func signApproval(e env, f *approvalsFlags, pol *policy.Policy, keys map[string]ed25519.PublicKey, approver string, r approval.Record) (string, error) {
	if err := approval.CheckShown(r); err != nil {
		return "", err
	}
	if pol != nil {
		if err := approval.CheckExpiry(r, time.Now(), pol.Approvals().Timeout); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(e.stderr, "Approving %s, this call, once:\n  tool:      %s\n  arguments: %s\n  rule:      %s\n  expires:   %s\n",
		r.ID, visible.Line(r.Tool), visible.Line(r.Args), visible.Line(r.Rule), r.ExpiresAt.Local().Format(time.RFC3339))
	pass, err := readPassphrase(f.passFile, fmt.Sprintf("Passphrase of approver %s to approve %s (%s): ", approver, r.ID, visible.Line(r.Tool)), false)
	if err != nil {
		return "", err
	}
	key, err := approval.DeriveKey(approver, pass)
	if err != nil {
		return "", err
	}
	if want, ok := keys[approver]; ok && !want.Equal(key.Public()) {
		return "", fmt.Errorf("wrong passphrase for %s: its key is not the one the policy lists", approver)
	}
	return approval.SignDecision(key, r, approver)
}

// policyApprovers loads the policy when -c names one, and its approvers.
func policyApprovers(f *approvalsFlags) (*policy.Policy, map[string]ed25519.PublicKey, error) {
	if f.config == "" {
		return nil, nil, nil
	}
	p, err := policy.LoadFile(f.config)
	if err != nil {
		return nil, nil, err
	}
	return p, p.Approvals().Approvers, nil
}

// adminClient talks to a running proxy's admin API (--admin-url).
type adminClient struct {
	url, token string
}

func newAdminClient(f *approvalsFlags) (*adminClient, error) {
	if f.adminTokenFile == "" {
		return nil, errors.New("--admin-url needs --admin-token-file (admin.token in the proxy's state directory)")
	}
	tok, err := os.ReadFile(f.adminTokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the admin token: %w", err)
	}
	return &adminClient{url: strings.TrimRight(f.adminURL, "/"), token: strings.TrimSpace(string(tok))}, nil
}

func (c *adminClient) do(ctx context.Context, method, path string, body any) (approval.Record, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return approval.Record{}, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, rd)
	if err != nil {
		return approval.Record{}, fmt.Errorf("admin API: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return approval.Record{}, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return approval.Record{}, fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		switch resp.StatusCode {
		case http.StatusNotFound:
			return approval.Record{}, approval.ErrNotFound
		case http.StatusConflict:
			if strings.Contains(e.Error, "expired") {
				return approval.Record{}, approval.ErrExpired
			}
			return approval.Record{}, approval.ErrNotPending
		}
		return approval.Record{}, fmt.Errorf("admin API: %s: %s", resp.Status, e.Error)
	}
	var r approval.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("admin API: %w", err)
	}
	return r, nil
}
