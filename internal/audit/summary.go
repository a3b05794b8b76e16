package audit

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// Summary is what an audit directory says about a window of time: the
// Tollgate instances that wrote to it (running or stopped), their calls,
// denials by rule, the most recent denials, policy reloads, and problems
// (lost or dropped audit lines, a full disk, rejected reloads, unreadable
// lines). Its JSON form is tollgate status --json's.
type Summary struct {
	Dir           string             `json:"audit_dir"`
	Now           time.Time          `json:"now"`
	Since         time.Time          `json:"since"`
	FreeBytes     *uint64            `json:"free_bytes,omitempty"`
	Instances     []*InstanceSummary `json:"instances"`
	DenialsByRule []RuleCount        `json:"denials_by_rule"`
	RecentDenials []RecentDenial     `json:"recent_denials"`
	Reloads       []ReloadEntry      `json:"reloads"`
	Servers       []ServerEntry      `json:"servers,omitempty"`
	Problems      []string           `json:"problems"`
	BadLines      int                `json:"unreadable_lines,omitempty"`
}

// InstanceSummary is one instance's part of a Summary. Running is true
// while the instance holds its chain's lock and has not logged a stop;
// CallsPerMin is over the part of the window the instance was up.
type InstanceSummary struct {
	Instance      string    `json:"instance"`
	Chain         int       `json:"chain"`
	Running       bool      `json:"running"`
	Started       time.Time `json:"started,omitzero"`
	Stopped       time.Time `json:"stopped,omitzero"`
	LastSeen      time.Time `json:"last_seen"`
	Policy        string    `json:"policy_file,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	Calls         int       `json:"calls"`
	Denied        int       `json:"denied"`
	Approvals     int       `json:"approval_required"`
	Monitored     int       `json:"would_deny"`
	Hidden        int       `json:"hidden"`
	Invalid       int       `json:"invalid"`
	CallsPerMin   float64   `json:"calls_per_minute"`
	Dropped       int64     `json:"audit_lines_dropped"`
	Lost          int64     `json:"audit_lines_lost"`
	LastLostError string    `json:"last_lost_error,omitempty"`
}

// RuleCount counts the calls one rule stopped (Denied, approvals asked
// included) or would have stopped in monitor mode (WouldDeny). Calls
// stopped by no named rule are counted under "(no rule: <reason>)".
type RuleCount struct {
	Rule      string `json:"rule"`
	Denied    int    `json:"denied"`
	WouldDeny int    `json:"would_deny"`
}

// RecentDenial is one call that was not allowed: denied, held for
// approval, hidden, refused as invalid, or (Monitor) one of these only on
// paper.
type RecentDenial struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Identity string    `json:"identity,omitempty"`
	Tool     string    `json:"tool"`
	Decision string    `json:"decision"`
	Monitor  bool      `json:"monitor,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// ReloadEntry is one policy reload and its result ("ok" or why not).
type ReloadEntry struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	File     string    `json:"file"`
	Result   string    `json:"result"`
	Errors   []string  `json:"errors,omitempty"`
}

// ServerEntry is one server behind a tollgate gateway instance: its state
// by the instance's last server line (up or down, since when, and why it
// went down), and how often it went down in the window.
type ServerEntry struct {
	Instance  string    `json:"instance"`
	Server    string    `json:"server"`
	State     string    `json:"state"` // up, down
	Since     time.Time `json:"since"`
	Downs     int       `json:"downs"`
	LastError string    `json:"last_error,omitempty"`
}

// lowDisk is the free space below which a Summary reports the disk as full.
const lowDisk = 16 << 20

// Summarize reads the audit trail in dir (see Scan) and summarises the
// window of length window that ends at now: calls, denials and reloads in
// the window; instances active in it or still running (their starts and
// stops may be older), running first, then by last record, newest first;
// denials by rule, most first; the recent most recent denials, newest
// first; problems sorted. An unreadable line is counted (BadLines and a
// problem), not an error. Summarize only reads: it is safe while
// instances write.
func Summarize(dir string, now time.Time, window time.Duration, recent int) (*Summary, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	rep := &Summary{Dir: dir, Now: now.UTC(), Since: now.Add(-window).UTC(),
		Instances: []*InstanceSummary{}, DenialsByRule: []RuleCount{}, RecentDenials: []RecentDenial{},
		Reloads: []ReloadEntry{}, Problems: []string{}}
	byInst := map[string]*InstanceSummary{}
	rules := map[string]*RuleCount{}
	lastByChain := map[int]*InstanceSummary{}
	type serverKey struct{ instance, server string }
	servers := map[serverKey]*ServerEntry{}
	bad, err := Scan(dir, rep.Since, func(f ChainFile, r *Record) {
		in := byInst[r.Instance]
		if in == nil {
			in = &InstanceSummary{Instance: r.Instance, Chain: f.Chain}
			byInst[r.Instance] = in
		}
		if r.Time.After(in.LastSeen) {
			in.LastSeen = r.Time
		}
		if prev := lastByChain[f.Chain]; prev == nil || !r.Time.Before(prev.LastSeen) {
			lastByChain[f.Chain] = in
		}
		switch r.Event {
		case KindStart:
			in.Started = r.Time
			if r.Start != nil {
				in.Policy, in.Mode = r.Start.Policy, r.Start.Mode
			}
		case KindStop:
			in.Stopped = r.Time
		case KindDropped:
			in.Dropped += r.Count
		case KindLost:
			in.Lost += r.Count
			in.LastLostError = r.Error
		case KindServer:
			k := serverKey{r.Instance, r.Server}
			se := servers[k]
			if se == nil {
				se = &ServerEntry{Instance: r.Instance, Server: r.Server}
				servers[k] = se
			}
			if r.Time.Before(se.Since) {
				return
			}
			se.State, se.Since = r.Result, r.Time
			if r.Result == "down" {
				se.LastError = r.Error
				if !r.Time.Before(rep.Since) {
					se.Downs++
				}
			}
		case KindReload:
			if !r.Time.Before(rep.Since) {
				rep.Reloads = append(rep.Reloads, ReloadEntry{Time: r.Time, Instance: r.Instance, File: r.File, Result: r.Result, Errors: r.Errors})
			}
		case KindCall:
			if r.Time.Before(rep.Since) {
				return
			}
			var held bool // answered "approval pending"
			switch r.Decision {
			case "allow":
				if r.Outcome != "" {
					in.Calls++
				}
				return
			case "hidden", "invalid":
				// A call to a tool the client cannot see, or a message
				// refused as malformed, ambiguous or without an id.
				if r.Decision == "hidden" && !r.Monitor {
					in.Hidden++
					in.Calls++
				} else if r.Decision == "invalid" {
					in.Invalid++
				}
				if r.Monitor {
					in.Monitored++
				}
				rep.RecentDenials = append(rep.RecentDenials, RecentDenial{Time: r.Time, Instance: r.Instance,
					Identity: r.Identity, Tool: r.Tool, Decision: r.Decision, Monitor: r.Monitor, Rule: r.Rule, Reason: r.Reason})
				return
			case "deny":
			case "approval_required", "approval_requested", "approval_reused":
				held = true
			default:
				return // a step in an approval's life, not an answer to a call
			}
			if !r.Monitor {
				in.Calls++
			}
			name := r.Rule
			if name == "" {
				name = "(no rule: " + firstWords(r.Reason, 6) + ")"
			}
			rc := rules[name]
			if rc == nil {
				rc = &RuleCount{Rule: name}
				rules[name] = rc
			}
			switch {
			case r.Monitor:
				in.Monitored++
				rc.WouldDeny++
			case held:
				in.Approvals++
				rc.Denied++
			default:
				in.Denied++
				rc.Denied++
			}
			rep.RecentDenials = append(rep.RecentDenials, RecentDenial{Time: r.Time, Instance: r.Instance,
				Identity: r.Identity, Tool: r.Tool, Decision: r.Decision, Monitor: r.Monitor, Rule: r.Rule, Reason: r.Reason})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	rep.BadLines = bad
	for chain, in := range lastByChain {
		in.Running = in.Stopped.IsZero() && Running(dir, chain)
	}
	for _, in := range byInst {
		from := rep.Since
		if in.Started.After(from) {
			from = in.Started
		}
		to := now
		if !in.Running && !in.LastSeen.IsZero() && in.LastSeen.Before(to) {
			to = in.LastSeen
		}
		if mins := to.Sub(from).Minutes(); mins > 0 {
			in.CallsPerMin = float64(in.Calls) / max(mins, 1)
		}
		// Show instances active in the window, and every running one.
		if in.Running || !in.LastSeen.Before(rep.Since) {
			rep.Instances = append(rep.Instances, in)
		}
		if in.Lost > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("instance %s lost %d audit line(s) to write errors (last: %s)", in.Instance, in.Lost, in.LastLostError))
		}
		if in.Dropped > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("instance %s dropped %d audit line(s): the audit buffer was full", in.Instance, in.Dropped))
		}
	}
	for _, se := range servers {
		in := byInst[se.Instance]
		if in == nil || !(in.Running || !in.LastSeen.Before(rep.Since)) {
			continue // its instance is not shown
		}
		rep.Servers = append(rep.Servers, *se)
		if in.Running && se.State == "down" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("server %s of instance %s is down since %s: %s", se.Server, se.Instance, se.Since.Format(time.DateTime), se.LastError))
		}
	}
	sort.Slice(rep.Servers, func(i, j int) bool {
		a, b := rep.Servers[i], rep.Servers[j]
		if a.Instance != b.Instance {
			return a.Instance < b.Instance
		}
		return a.Server < b.Server
	})
	sort.Slice(rep.Instances, func(i, j int) bool {
		a, b := rep.Instances[i], rep.Instances[j]
		if a.Running != b.Running {
			return a.Running
		}
		return a.LastSeen.After(b.LastSeen)
	})
	for _, rc := range rules {
		rep.DenialsByRule = append(rep.DenialsByRule, *rc)
	}
	sort.Slice(rep.DenialsByRule, func(i, j int) bool {
		a, b := rep.DenialsByRule[i], rep.DenialsByRule[j]
		if a.Denied+a.WouldDeny != b.Denied+b.WouldDeny {
			return a.Denied+a.WouldDeny > b.Denied+b.WouldDeny
		}
		return a.Rule < b.Rule
	})
	sort.SliceStable(rep.RecentDenials, func(i, j int) bool { return rep.RecentDenials[i].Time.After(rep.RecentDenials[j].Time) })
	if len(rep.RecentDenials) > recent {
		rep.RecentDenials = rep.RecentDenials[:recent]
	}
	for _, r := range rep.Reloads {
		if r.Result != "ok" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("a reload of %s at %s was not applied (%s): %s", r.File, r.Time.Format(time.DateTime), r.Result, firstOr(r.Errors)))
		}
	}
	if free, ok := FreeSpace(dir); ok {
		rep.FreeBytes = &free
		if free < lowDisk {
			rep.Problems = append(rep.Problems, fmt.Sprintf("the disk holding %s is full (%s free): audit lines are being lost", dir, HumanBytes(free)))
		}
	}
	if bad > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d unreadable audit line(s); run tollgate audit verify", bad))
	}
	sort.Strings(rep.Problems)
	return rep, nil
}

func firstOr(list []string) string {
	if len(list) == 0 {
		return "no details"
	}
	if len(list) > 1 {
		return fmt.Sprintf("%s (and %d more)", list[0], len(list)-1)
	}
	return list[0]
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		return strings.Join(w[:n], " ") + "…"
	}
	return strings.Join(w, " ")
}

// HumanBytes renders a byte count in KiB, MiB, … with one decimal.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
