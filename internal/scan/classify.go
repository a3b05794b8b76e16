package scan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Category is what a tool does, by the effect that matters most to a
// reviewer.
type Category string

const (
	Read        Category = "Read"        // observes only
	Write       Category = "Write"       // changes state, reversibly
	Execute     Category = "Execute"     // runs code, commands, queries or jobs
	Financial   Category = "Financial"   // moves money or commits to spending
	Destructive Category = "Destructive" // deletes or irreversibly overwrites
)

// Categories lists every category, riskiest first.
var Categories = []Category{Destructive, Financial, Execute, Write, Read}

// rank orders categories by risk; Financial and Destructive tie.
func (c Category) rank() int {
	switch c {
	case Read:
		return 1
	case Write:
		return 2
	case Execute:
		return 3
	case Financial, Destructive:
		return 4
	}
	return 0
}

// Risk is a level from 1 to 5 with its word.
type Risk struct {
	Level int    `json:"level"`
	Label string `json:"label"`
}

// RiskLabel is the word for a risk level.
func RiskLabel(level int) string {
	switch {
	case level >= 5:
		return "Critical"
	case level == 4:
		return "High"
	case level == 3:
		return "Medium"
	default:
		return "Low"
	}
}

func riskFor(c Category, signals []Signal) Risk {
	level := map[Category]int{Read: 1, Write: 3, Execute: 4, Financial: 5, Destructive: 5}[c]
	if c == Read && slices.ContainsFunc(signals, func(s Signal) bool {
		return s.Kind == SignalCredentials || s.Kind == SignalBulk
	}) {
		level = 2
	}
	return Risk{Level: level, Label: RiskLabel(level)}
}

// Assessment is the verdict on one tool.
type Assessment struct {
	Name              string   `json:"name"`
	Category          Category `json:"category"`
	Risk              Risk     `json:"risk"`
	Signals           []Signal `json:"signals"`
	Reason            string   `json:"reason"`
	SuggestedRule     ToolRule `json:"suggested_rule"`
	Description       string   `json:"description"`
	InputSchemaSHA256 string   `json:"input_schema_sha256"`

	params []param // for the scaffold's comments
}

// verdict is one piece of evidence about the category.
type verdict struct {
	cat  Category
	what string // "name verb \"delete\""
	noun bool   // came from a word that is as often a noun
	// listed is set when the verb came from a list of verbs ("Download and
	// import"): a plain statement of several effects.
	listed bool
}

var readOnlyWording = lazyRegexp(`(?i)\b(read[- ]?only|in read mode|without (making )?(any )?(changes|modif\w*|side[- ]effects)|does not (modify|change|write)|no side[- ]effects)\b`)

// Classify assesses one tool.
func Classify(t Tool) Assessment {
	params, truncated := walkSchema(t.InputSchema)
	signals := findSignals(t, params, truncated)
	cat, reason := categorize(t, params)
	a := Assessment{
		Name:              t.Name,
		Category:          cat,
		Risk:              riskFor(cat, signals),
		Signals:           signals,
		Reason:            reason,
		Description:       t.Description,
		InputSchemaSHA256: schemaHash(t.InputSchema),
		params:            params,
	}
	a.SuggestedRule = suggestRule(t.Name, cat)
	return a
}

func categorize(t Tool, params []param) (Category, string) {
	nameW := nameWords(t.Name)
	descW := proseWords(t.Description)
	context := append(slices.Clone(nameW), descW...)

	name, nameOK := nameVerdict(nameW, context)
	desc, descOK := descVerdict(descW, context)

	var cat Category
	var why []string
	switch {
	case nameOK && descOK && name.noun && !desc.noun && desc.cat != name.cat:
		// The name's verb may be a noun ("git_log"); the description's
		// verb ("Shows the commit logs") settles it.
		cat = desc.cat
		why = append(why, desc.what+" (the name's "+strings.TrimPrefix(name.what, "name verb ")+" may be a noun)")
	case nameOK && descOK && desc.cat.rank() > name.cat.rank() && !desc.noun &&
		(name.cat != Read || name.noun || desc.listed || desc.cat == Destructive || desc.cat == Financial):
		// A description may raise a name's category; a plain read verb in
		// the name ("retrieveEmailTemplatePreview": "Creates a preview...")
		// gives way only to a list of effects or to money or deletion.
		cat = desc.cat
		why = append(why, desc.what+" (raises "+name.what+": "+string(name.cat)+")")
	case nameOK:
		cat = name.cat
		why = append(why, name.what)
	case descOK:
		cat = desc.cat
		why = append(why, desc.what+" (no verb in the name)")
	}

	if cat == Execute && readOnlyWording().MatchString(t.Description) {
		cat = Read
		why = []string{why[0] + ", but the description says " + strings.ToLower(readOnlyWording().FindString(t.Description))}
	}

	// Operation enums: "method": ["create", "delete"] means the tool can
	// delete. A tool whose name says it reads is not raised by an enum: its
	// "action" argument is more likely data than an operation.
	if v, ok := enumVerdict(params, context); ok && v.cat.rank() > cat.rank() && (cat != Read || !nameOK) {
		if cat == "" {
			why = append(why, v.what)
		} else {
			why = append(why, v.what+" raises it")
		}
		cat = v.cat
	}

	if cat == Write && irreversible().MatchString(t.Description) {
		cat = Destructive
		why = append(why, "the description says it is irreversible")
	}

	// Annotations may raise, never lower.
	if an := t.Annotations; an != nil {
		readOnly := an.ReadOnlyHint != nil && *an.ReadOnlyHint
		switch {
		case !readOnly && an.DestructiveHint != nil && *an.DestructiveHint && cat.rank() < Destructive.rank():
			if cat == "" {
				why = append(why, "annotation destructiveHint: true")
			} else {
				why = append(why, "annotation destructiveHint: true raises it")
			}
			cat = Destructive
		case an.ReadOnlyHint != nil && !*an.ReadOnlyHint && cat.rank() < Write.rank():
			if cat == "" {
				why = append(why, "annotation readOnlyHint: false")
			} else {
				why = append(why, "annotation readOnlyHint: false raises it")
			}
			cat = Write
		case cat == "" && readOnly:
			cat = Read
			why = append(why, "no verb in the name or description; annotation readOnlyHint: true")
		}
	}

	if cat == "" {
		if slices.ContainsFunc(params, func(p param) bool {
			return p.Depth == 0 && codeHeads.has(strings.ToLower(p.Name)) && !strings.Contains(p.Name, "query")
		}) {
			cat = Execute
			why = append(why, "no verb in the name or description; takes a script or command")
		} else {
			cat = Write
			why = append(why, "no verb recognised in the name or description; assumed Write until reviewed")
		}
	}
	return cat, strings.Join(why, "; ")
}

// nameVerdict finds the action a tool's name names. The first verb wins,
// except that a word as often a noun ("issue", "run") gives way to an
// unambiguous verb later in the name ("issue_read").
func nameVerdict(words, context []string) (verdict, bool) {
	for i, w := range words {
		v, ok := verbs()[w]
		if !ok {
			continue
		}
		if v.noun && slices.ContainsFunc(words[i+1:], func(x string) bool {
			u, ok := verbs()[x]
			return ok && !u.noun
		}) {
			continue
		}
		objects := slices.Concat(words[:i], words[i+1:])
		cat, note := verbCategory(w, v, objects, context)
		if nameOnlyExecute.has(w) && cat == Write {
			cat = Execute
		}
		return verdict{cat: cat, what: fmt.Sprintf("name verb %q%s", w, note), noun: v.noun}, true
	}
	return verdict{}, false
}

// descSkip are words a description may start with before its verb.
var descSkip = words{"use", "this", "tool", "to", "allows", "allow", "you", "lets", "let",
	"used", "a", "an", "the", "can", "be", "helps", "help", "will", "it", "that", "for",
	"function", "endpoint", "method", "api", "please", "hard", "soft", "bulk", "quickly",
	"safely", "securely", "simply", "just", "also", "directly", "automatically",
	"permanently", "immediately", "asynchronously", "batch", "i", "we", "should", "must",
	"may", "and"}

// descVerdict reads the verbs that open a description ("Create, run, and
// see load testing"; "Download and import a model"); the riskiest wins.
func descVerdict(words, context []string) (verdict, bool) {
	i, seen := 0, 0
	for ; i < len(words) && seen < 3; i++ {
		if descSkip.has(words[i]) || words[i] == "," || words[i] == "/" || words[i] == "&" {
			continue
		}
		if _, _, ok := lookupVerb(words[i]); ok {
			break
		}
		seen++
	}
	if i >= len(words) || seen >= 3 {
		return verdict{}, false
	}
	// The verb list: verbs joined by "," "/" "&" "and" "or".
	type hit struct {
		word string
		v    verbInfo
	}
	var hits []hit
	j := i
	for j < len(words) {
		lemma, v, ok := lookupVerb(words[j])
		if !ok {
			break
		}
		hits = append(hits, hit{lemma, v})
		k := j + 1
		for k < len(words) && (words[k] == "," || words[k] == "/" || words[k] == "&" || words[k] == "and" || words[k] == "or" || words[k] == "then") {
			k++
		}
		if k == j+1 {
			break
		}
		j = k
	}
	// Later in the sentence, "... or overwrite an existing file" and "...
	// and delete its history" still state an effect.
	for k := j + 1; k+1 < len(words); k++ {
		if words[k] != "or" && words[k] != "and" {
			continue
		}
		if lemma, v, ok := lookupVerb(words[k+1]); ok && !v.noun && (v.cat == Destructive || v.cat == Financial) {
			hits = append(hits, hit{lemma, v})
		}
	}
	end := min(len(words), j+8)
	objects := words[j+1 : max(j+1, end)]
	best := verdict{}
	for n, h := range hits {
		cat, note := verbCategory(h.word, h.v, objects, context)
		// Only the opening verb may be a noun-like word; verbs listed
		// after it are verbs by position.
		noun := h.v.noun && n == 0 && len(hits) == 1
		if best.cat == "" || cat.rank() > best.cat.rank() {
			best = verdict{cat: cat, what: fmt.Sprintf("description verb %q%s", h.word, note), noun: noun, listed: len(hits) > 1}
		}
	}
	return best, true
}

// lookupVerb finds a word or its lemma in the vocabulary.
func lookupVerb(w string) (string, verbInfo, bool) {
	for _, l := range lemmas(w) {
		if v, ok := verbs()[l]; ok {
			return l, v, true
		}
	}
	return "", verbInfo{}, false
}

// verbCategory applies a verb to its objects: "create" is Write, but
// "create" of a refund is Financial.
func verbCategory(w string, v verbInfo, objects, context []string) (Category, string) {
	switch {
	case v.cat == Destructive || v.cat == Financial:
		return v.cat, ""
	case v.money && anyIn(context, moneyContext):
		return Financial, " on money"
	case v.commit:
		for _, o := range objects {
			if !moneyNouns.has(o) {
				continue
			}
			switch {
			case strings.HasPrefix(o, "dispute") && !disputeVerbs.has(w):
				continue
			case strings.HasPrefix(o, "subscription") && anyIn(context, nonMoneySubscription):
				continue
			}
			return Financial, fmt.Sprintf(" on %q", o)
		}
	}
	return v.cat, ""
}

// operationParams are argument names whose enum values are the actions a
// multi-purpose tool performs.
var operationParams = words{"action", "actions", "operation", "operations", "op", "method",
	"mode", "command", "verb", "intent"}

func enumVerdict(params []param, context []string) (verdict, bool) {
	best, found := verdict{}, false
	for _, p := range params {
		if p.Depth != 0 || !operationParams.has(strings.ToLower(p.Name)) {
			continue
		}
		for _, e := range p.Enum {
			v, ok := nameVerdict(nameWords(e), context)
			if !ok {
				continue
			}
			if !found || v.cat.rank() > best.cat.rank() {
				best = verdict{cat: v.cat, what: fmt.Sprintf("argument %s can be %q", p.Path, e)}
				found = true
			}
		}
	}
	return best, found
}

// schemaHash is the SHA-256 of the input schema in a canonical form (keys
// sorted, no insignificant white space), so that reformatting is not a change.
func schemaHash(raw json.RawMessage) string {
	canon := []byte("null")
	if len(raw) > 0 {
		var v any
		if err := json.Unmarshal(raw, &v); err == nil {
			if b, err := json.Marshal(v); err == nil {
				canon = b
			}
		} else {
			canon = raw
		}
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}
