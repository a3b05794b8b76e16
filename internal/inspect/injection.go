package inspect

import (
	"bytes"
	"sync"
)

// Injected instructions: phrases that address the model rather than the
// user, fake delimiters that pretend a tool result or a turn has ended, and
// hidden Unicode (see text.go). A phrase starts at a trigger word; the
// words after it must then contain the rest, in order, within a few words,
// so that "ignore all of the previous instructions" is caught as well as
// "ignore previous instructions", while "you are now logged in" is not.

// injCand marks, by lower-case first letter and length, the words that may
// be triggers, so that most words cost one lookup.
var injCand = func() (t [256][13]bool) {
	for _, w := range triggers {
		t[w.word[0]][len(w.word)] = true
		t[w.word[0]&^0x20][len(w.word)] = true
	}
	return t
}()

// triggerIndex maps a trigger word to its place in triggers. It is built on
// first use, as every map built at init costs every start of the binary.
var triggerIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(triggers))
	for i, w := range triggers {
		m[w.word] = i
	}
	return m
})

// A pattern is a sequence of alternatives; each must appear, in order,
// within span words after the trigger. An alternative ending in '*' is a
// prefix.
type pattern struct {
	span  int
	steps [][]string
}

var (
	qualifiers = []string{"previous", "prior", "above", "earlier", "preceding", "all", "any", "every", "your", "system",
		"original", "initial", "anteriores", "previas", "précédentes", "precedentes", "toutes", "todas", "tutte",
		"vorherigen", "bisherigen", "alle", "precedenti", "eerdere", "vorige"}
	objects = []string{"instruction*", "instrucci*", "instruç*", "istruzion*", "anweisung*", "instructie*", "consigne*",
		"direction*", "directive*", "prompt*", "rule*", "guideline*", "regeln", "reglas", "règles"}
	tellVerbs = []string{"tell*", "mention*", "inform*", "reveal*", "disclose*", "notify*", "alert*", "let", "show*"}
	theUser   = []string{"user", "users", "user's", "human", "operator"}
	ignoreP   = pattern{6, [][]string{qualifiers, objects}}
	tellP     = pattern{5, [][]string{tellVerbs, theUser}}
)

// triggers maps a trigger word (lower case) to the patterns that may
// follow it.
var triggers = []struct {
	word string
	pats []pattern
}{
	{"ignore", []pattern{ignoreP}},
	{"ignoring", []pattern{ignoreP}},
	{"disregard", []pattern{ignoreP}},
	{"forget", []pattern{ignoreP, {3, [][]string{{"everything"}, {"above", "before", "previous*", "told", "said"}}}}},
	{"override", []pattern{ignoreP}},
	{"ignora", []pattern{ignoreP}},     // es, it
	{"ignorar", []pattern{ignoreP}},    // es, pt
	{"ignorez", []pattern{ignoreP}},    // fr
	{"ignorer", []pattern{ignoreP}},    // fr
	{"ignoriere", []pattern{ignoreP}},  // de
	{"ignorieren", []pattern{ignoreP}}, // de
	{"vergiss", []pattern{ignoreP}},    // de
	{"olvida", []pattern{ignoreP}},     // es
	{"oublie", []pattern{ignoreP}},     // fr
	{"oubliez", []pattern{ignoreP}},    // fr
	{"negeer", []pattern{ignoreP}},     // nl
	{"you", []pattern{
		{3, [][]string{{"are"}, {"now"}, {"dan", "jailbr*", "unrestrict*", "unfilter*", "uncensor*", "evil", "developer", "god"}}},
		{4, [][]string{{"must", "will", "should"}, {"ignore", "disregard", "forget"}, {"instruction*", "rule*", "guideline*", "previous"}}},
	}},
	{"do", []pattern{{1, [][]string{{"not"}}}}},
	{"dont", []pattern{tellP}},
	{"don", []pattern{tellP}}, // don't, after the apostrophe
	{"never", []pattern{tellP}},
	{"without", []pattern{{4, [][]string{{"tell*", "inform*", "notify*", "alert*", "letting"}, theUser}}}},
	{"hide", []pattern{{5, [][]string{{"from"}, theUser}}}},
	{"conceal", []pattern{{5, [][]string{{"from"}, theUser}}}},
	{"reveal", []pattern{{4, [][]string{{"system", "initial", "original", "hidden", "secret"}, {"prompt*", "instruction*"}}}}},
	{"print", []pattern{{4, [][]string{{"system", "initial", "original", "hidden"}, {"prompt*", "instruction*"}}}}},
	{"repeat", []pattern{{4, [][]string{{"system", "initial", "original", "hidden"}, {"prompt*", "instruction*"}}}}},
	{"output", []pattern{{4, [][]string{{"system", "initial", "original", "hidden"}, {"prompt*", "instruction*"}}}}},
	{"leak", []pattern{{4, [][]string{{"system", "initial", "original", "hidden"}, {"prompt*", "instruction*"}}}}},
	{"new", []pattern{{2, [][]string{{"system"}, {"prompt*", "instruction*"}}}, {1, [][]string{{"instructions:"}}}}},
	{"updated", []pattern{{2, [][]string{{"system"}, {"prompt*", "instruction*"}}}}},
	{"system", []pattern{{1, [][]string{{"prompt:", "override*", "instructions:"}}}}},
	{"act", []pattern{{4, [][]string{{"as"}, {"dan", "jailbr*", "unrestrict*", "unfilter*", "uncensor*"}}}}},
}

// injectWord checks a short word that may start a phrase.
func (s *scanner) injectWord(a, b int) {
	t := s.t
	var buf [12]byte
	w := normKey(buf[:], t[a:b])
	if ti, ok := triggerIndex()[string(w)]; ok {
		tr := triggers[ti]
		from := b
		if tr.word == "don" {
			switch {
			case hasPrefix(t[b:], "'t"):
				from = b + 2
			case hasPrefix(t[b:], "\u2019t"):
				from = b + 4
			default:
				return
			}
		}
		for _, p := range tr.pats {
			end, ok := s.follow(from, p)
			if !ok {
				continue
			}
			if tr.word == "do" { // "do not" then tell … the user
				end, ok = s.follow(end, tellP)
				if !ok {
					continue
				}
			}
			s.add(dInjectionPhrase, a, end)
			return
		}
	}
}

// follow matches p against the words after i and returns the end of the
// last word matched.
func (s *scanner) follow(i int, p pattern) (int, bool) {
	t := s.t
	step := 0
	for range p.span + len(p.steps) - 1 {
		// Skip to the next word: spaces and light punctuation.
		j := i
		for j < len(t) && (isSpace(t[j]) || t[j] == ',' || t[j] == '-' || t[j] == '"' || t[j] == '\'' || t[j] == '(' || t[j] == ')') {
			j++
		}
		if j == i && i != 0 || j-i > 8 {
			return 0, false
		}
		e := j
		for e < len(t) && !isSpace(t[e]) && t[e] != ',' && t[e] != '"' && t[e] != ')' && (t[e] != '.' || e+1 < len(t) && !isSpace(t[e+1])) {
			e++
		}
		if e == j {
			return 0, false
		}
		if matchAny(t[j:e], p.steps[step]) {
			step++
			if step == len(p.steps) {
				return e, true
			}
		}
		i = e
	}
	return 0, false
}

// matchAny reports whether w (any case) is one of alts.
func matchAny(w []byte, alts []string) bool {
	for _, a := range alts {
		if a[len(a)-1] == '*' {
			if hasPrefixFoldUTF8(w, a[:len(a)-1]) {
				return true
			}
		} else if len(w) == len(a) && hasPrefixFoldUTF8(w, a) {
			return true
		}
	}
	return false
}

// hasPrefixFoldUTF8 folds ASCII only; p's other bytes must match exactly.
func hasPrefixFoldUTF8(w []byte, p string) bool {
	return len(w) >= len(p) && equalFold(w[:len(p)], p)
}

// fakeTags are names that, as <name>, </name> or <|name|>, imitate the
// delimiters of a prompt, a turn or a tool result.
var fakeTags = []string{"important", "system", "tool_result", "tool_results", "function_results", "function_result",
	"function_calls", "tool_response", "tool_use", "tool_call", "instructions", "assistant", "im_start", "im_end",
	"endoftext", "start_header_id", "end_header_id", "eot_id", "admin", "sys", "untrusted"}

// tag checks a '<' at i.
func (s *scanner) tag(i int) {
	t := s.t
	j := i + 1
	var lead byte
	if j < len(t) && (t[j] == '/' || t[j] == '|' || t[j] == '<') {
		lead = t[j]
		j++
	}
	e := wordEnd(t, j, func(c byte) bool { return isAlpha(c) || c == '_' })
	if e == j || e-j > 20 || e >= len(t) {
		return
	}
	close := e
	switch {
	case t[e] == '>':
		close = e + 1
		if lead == '<' { // <<SYS>>
			if e+1 < len(t) && t[e+1] == '>' {
				close = e + 2
			} else {
				return
			}
		}
	case t[e] == '|' && e+1 < len(t) && t[e+1] == '>' && lead == '|':
		close = e + 2
	default:
		return
	}
	var buf [20]byte
	name := normKey(buf[:], t[j:e])
	for _, n := range fakeTags {
		if n == string(name) {
			s.add(dFakeDelimiter, i, close)
			return
		}
	}
}

// bracket checks a '[' at i: [INST], [/INST], [SYSTEM], and markers that
// imitate Tollgate's own fence.
func (s *scanner) bracket(i int) {
	t := s.t
	r := t[i+1:]
	for _, m := range []string{"inst]", "/inst]", "system]", "/system]", "system message]", "untrusted content", "end untrusted content"} {
		if hasPrefixFold(r, m) {
			s.add(dFakeDelimiter, i, i+1+len(m))
			return
		}
	}
}

// foreignPhrases looks for a few phrases in scripts the word scanner does
// not split: Chinese, Japanese, Korean, Russian.
func (s *scanner) foreignPhrases(t []byte) {
	for _, p := range []string{"忽略之前的", "忽略以上", "忽略所有", "忽略先前", "无视之前", "以前の指示を無視", "指示を無視", "これまでの指示",
		"이전 지시", "지시를 무시", "игнорируй", "игнорируйте", "предыдущие инструкции"} {
		if k := bytes.Index(t, []byte(p)); k >= 0 {
			s.add(dInjectionPhrase, k, k+len(p))
			return
		}
	}
}
