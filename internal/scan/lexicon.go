package scan

import "sync"

// The vocabulary the classifier reads names and descriptions with. Each
// entry is a verb as it appears in an imperative tool name ("delete_user");
// descriptions in the third person ("Deletes the user") reach the same
// entries through lemmas.

type verbInfo struct {
	cat Category
	// noun marks a word that is as often a noun as a verb ("issue",
	// "run", "query"): in a name it counts as the action only when no
	// unambiguous verb follows it ("issue_read" is a read of an issue).
	noun bool
	// commit marks a verb that, applied to a money noun ("create_refund",
	// "send_invoice", "cancel_subscription"), commits to spending.
	commit bool
	// money marks a verb that is Financial only when money is in sight
	// ("transfer_funds" but not "transfer_repository").
	money bool
}

var verbs = sync.OnceValue(func() map[string]verbInfo {
	m := map[string]verbInfo{}
	set := func(cat Category, flags string, words ...string) {
		for _, w := range words {
			v := verbInfo{cat: cat}
			for _, f := range flags {
				switch f {
				case 'n':
					v.noun = true
				case 'c':
					v.commit = true
				case 'm':
					v.money = true
				}
			}
			m[w] = v
		}
	}
	set(Read, "", "get", "list", "read", "fetch", "search", "find", "retrieve", "describe", "show",
		"view", "lookup", "browse", "check", "count", "inspect", "validate", "preview", "explain",
		"analyze", "analyse", "compare", "diff", "summarize", "summarise", "download", "screenshot",
		"snapshot", "scan", "poll", "wait", "echo", "whoami", "ping", "estimate", "calculate",
		"extract", "crawl", "scrape", "decompile", "disassemble", "introspect", "discover",
		"identify", "detect", "suggest", "recommend", "render", "paginate", "learn", "aggregate",
		"translate", "tail", "grep", "peek", "measure", "print", "dump", "enumerate", "ls", "cat",
		"stat", "observe", "visualize", "visualise", "test", "lint", "diagnose", "research",
		"look", "see", "return", "returns", "provide", "access", "query", "select", "open")
	// Nouns as often as verbs, read-like.
	set(Read, "n", "export", "audit", "watch", "query", "status", "open")
	set(Read, "nm", "capture")
	set(Write, "c", "create", "add", "update", "upsert", "set", "put", "patch", "edit", "modify",
		"send", "submit", "confirm", "approve", "accept", "cancel", "finalize", "finalise", "void",
		"reverse", "renew", "resume", "pause", "upgrade", "downgrade", "remind", "make", "place",
		"initiate", "start", "complete", "authorize", "authorise", "collect", "retry", "mark",
		"issue", "process", "apply", "schedule")
	set(Write, "", "insert", "write", "save", "store", "upload", "register", "assign",
		"unassign", "unlink", "attach", "detach", "move", "rename", "clone", "rebase", "publish",
		"unpublish", "enable", "disable", "activate", "deactivate", "reject", "react", "unstar",
		"follow", "unfollow", "invite", "stop", "restart", "close", "reopen", "lock", "unlock",
		"archive", "unarchive", "restore", "login", "logout", "signin", "signout", "generate",
		"reconcile", "toggle", "configure", "provision", "initialize", "initialise", "init",
		"connect", "disconnect", "switch", "transition", "convert", "transform", "abort",
		"decline", "dismiss", "acknowledge", "ack", "snooze", "mute", "unmute", "notify",
		"track", "increment", "decrement", "append", "prepend", "replace", "fill", "click",
		"drag", "hover", "press", "scroll", "resize", "emulate", "handle", "manage", "perform",
		"vend", "renew", "rotate", "grant", "begin", "finish", "verify", "authenticate",
		"impersonate", "reindex", "rebuild", "sync", "synchronize", "synchronise", "migrate",
		"prepare", "define", "reserve", "claim", "redeem", "reload", "revert", "rollback",
		"undo", "redo", "focus", "simulate", "queue", "enqueue", "navigate", "go", "upsert", "modify",
		"kill", "subscribe", "unsubscribe", "request", "reply", "comment", "tag", "label",
		"link", "copy", "fork", "commit", "push", "merge", "change", "post", "message",
		"email", "share", "review", "record", "log", "order", "new", "exchange", "refresh",
		"action", "type", "import", "star", "choose", "setup", "remember", "memorize", "index",
		"ingest", "take")
	for _, w := range []string{"issue", "request", "reply", "comment", "tag", "label", "link",
		"copy", "fork", "commit", "push", "merge", "change", "post", "message", "email",
		"share", "review", "record", "log", "order", "new", "exchange", "refresh", "action",
		"type", "import", "star", "schedule", "process", "rollback", "start", "index", "take",
		"complete", "check", "test", "count", "diff", "print", "dump", "return",
		"returns", "look", "see", "access", "provide", "stat", "cat", "echo", "select"} {
		if v, ok := m[w]; ok {
			v.noun = true
			m[w] = v
		}
	}
	set(Execute, "", "execute", "exec", "eval", "evaluate", "invoke", "launch", "spawn",
		"shell", "dispatch", "compile", "interpret", "install", "rerun", "benchmark")
	set(Execute, "n", "run", "call", "trigger", "deploy")
	set(Execute, "", "build")
	set(Destructive, "", "delete", "del", "remove", "rm", "rmdir", "destroy", "drop", "purge",
		"erase", "wipe", "truncate", "prune", "clear", "reset", "overwrite", "revoke",
		"terminate", "forget", "flush", "obliterate", "shred", "nuke", "uninstall", "unregister",
		"deregister", "discard")
	set(Financial, "", "pay", "purchase", "buy", "payout", "withdraw", "repay", "reimburse",
		"donate", "tip")
	set(Write, "m", "checkout")
	set(Financial, "n", "refund", "charge", "bill")
	set(Write, "cm", "transfer")
	return m
})

// nameOnlyExecute are verbs that launch work when they name a tool
// ("tf_apply", "apply_migration") but are weak in a description ("Apply a
// texture").
var nameOnlyExecute = words{"apply"}

// moneyNouns are the objects that make a committing verb Financial.
var moneyNouns = words{
	"charge", "charges", "refund", "refunds", "payout",
	"payouts", "payment", "payments", "invoice", "invoices",
	"subscription", "subscriptions", "purchase", "purchases",
	"checkout", "withdrawal", "withdrawals", "funds", "money",
	"cost", "costs", "wire", "remittance", "disbursement",
	"billing", "transaction", "transfer", "transfers", "transactions", "payin", "fee",
	"fees", "dispute", "disputes",
}

// moneyContext are words that put "transfer", "capture" or "subscription"
// in a financial sense.
var moneyContext = words{
	"amount", "funds", "fund", "money", "payment",
	"payments", "payout", "balance", "currency", "usd",
	"eur", "wallet", "bank", "iban", "ach", "wire",
	"charge", "authorization", "authorisation", "order",
	"plan", "price", "billing", "invoice", "cents",
}

// nonMoneySubscription are words beside "subscription" that make it a
// notification subscription rather than a paid one.
var nonMoneySubscription = words{
	"notification", "notifications", "webhook", "webhooks",
	"event", "events", "topic", "topics", "feed",
	"channel", "channels", "pubsub", "alert", "alerts",
	"resource", "resources", "email", "newsletter",
	"calendar", "stream", "push", "graph", "repository",
	"repo", "azure", "thread", "issue", "updates",
}

// disputeVerbs: conceding a dispute refunds the buyer; other dispute
// updates (submitting evidence) do not move money.
var disputeVerbs = words{"accept", "concede", "close"}
