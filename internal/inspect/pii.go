package inspect

import (
	"bytes"
	"sync"
)

// numeric dispatches a word that starts with a digit.
func (s *scanner) numeric(a, b int) {
	t := s.t
	w := t[a:b]
	n := len(w)
	// A number right after "digits." is a fraction or a version, not an id.
	if a >= 2 && t[a-1] == '.' && isDigit(t[a-2]) {
		return
	}
	if c := w[0]; c >= '2' && c <= '6' && (n == 4 || n >= 12) {
		s.card(a)
	}
	switch n {
	case 11:
		if w[3] == '-' && w[6] == '-' {
			s.ssn(a, b)
		}
	case 9, 10:
		if allOf(w[:8], isDigit) {
			if n == 9 && isUpper(w[8]) || n == 10 && w[8] == '-' && isUpper(w[9]) {
				if dniLetter(w[:8], 0) == w[n-1] {
					s.add(dESDNI, a, b)
				}
			}
		}
		if n == 9 && allOf(w, isDigit) && elevenCheck(w) && s.nearWord(a, "bsn", "burgerservicenummer", "sofinummer") {
			s.add(dNLBSN, a, b)
		}
	case 12:
		if w[3] == '-' && w[7] == '-' {
			s.nanp(a, w[:3], w[4:7], w[8:], b)
		}
	case 3:
		if b+8 <= len(t) && t[b] == '.' && t[b+4] == '.' {
			s.nanp(a, w, t[b+1:b+4], t[b+5:b+9], b+9)
		}
	}
	if w[0] == '0' && n >= 3 && n <= 5 {
		s.ukPhone(a, b)
	}
}

// card matches 13 to 19 digits from a, in one run or in groups split by
// single spaces or hyphens, that pass the Luhn check and start with an
// issuer range of a matching length.
func (s *scanner) card(a int) {
	t := s.t
	var digits [19]byte
	n := 0
	i := a
	var sep byte
	for i < len(t) {
		c := t[i]
		if isDigit(c) {
			if n == len(digits) {
				return
			}
			digits[n] = c
			n++
			i++
			continue
		}
		if (c == ' ' || c == '-') && i+1 < len(t) && isDigit(t[i+1]) && n > 0 && (sep == 0 || sep == c) {
			sep = c
			i++
			continue
		}
		break
	}
	if i < len(t) && (isAlnum(t[i]) || t[i] == '_') {
		return
	}
	if n < 13 || !luhn(digits[:n]) || !issuer(digits[:n]) {
		return
	}
	s.add(dCardNumber, a, i)
}

// luhn reports whether the digits pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	dbl := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if dbl {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		dbl = !dbl
	}
	return sum%10 == 0
}

// issuer reports whether the digits start with a card issuer's range and
// have a length that issuer uses.
func issuer(d []byte) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	p2, p3, p4, p6 := p(2), p(3), p(4), p(6)
	switch {
	case d[0] == '4': // Visa (13-digit cards are long gone; 13-digit ids are common)
		return n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, p6 >= 622126 && p6 <= 622925: // Discover
		return n >= 16 && n <= 19
	case p2 == 62: // UnionPay
		return n >= 16 && n <= 19
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16 && n <= 19
	case p3 >= 300 && p3 <= 305, p2 == 36, p2 == 38, p2 == 39: // Diners Club
		return n >= 14 && n <= 19
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, p4 >= 6761 && p4 <= 6763: // Maestro
		return n >= 12 && n <= 19
	}
	return false
}

// ssn matches a US social security number AAA-GG-SSSS outside the ranges
// never issued (area 000, 666, 900-999; group 00; serial 0000) and the
// numbers known from advertising.
func (s *scanner) ssn(a, b int) {
	w := s.t[a:b]
	if !allOf(w[:3], isDigit) || !allOf(w[4:6], isDigit) || !allOf(w[7:], isDigit) {
		return
	}
	area, grp, ser := string(w[:3]), string(w[4:6]), string(w[7:])
	if area == "000" || area == "666" || area[0] == '9' || grp == "00" || ser == "0000" {
		return
	}
	switch string(w) {
	case "078-05-1120", "219-09-9999", "123-45-6789":
		return
	}
	s.add(dUSSSN, a, b)
}

// dniLetter returns the control letter of a Spanish DNI number (8 digits),
// or of an NIE whose first letter has been replaced by its digit.
func dniLetter(d []byte, lead int) byte {
	v := lead
	for _, c := range d {
		v = v*10 + int(c-'0')
	}
	return "TRWAGMYFPDXBNJZSQVHLCKE"[v%23]
}

// elevenCheck is the Dutch BSN 11-check: 9·d1 + 8·d2 + … + 2·d8 − d9 is a
// multiple of 11 (and not 0).
func elevenCheck(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	sum := 0
	for i := range 8 {
		sum += (9 - i) * int(d[i]-'0')
	}
	sum -= int(d[8] - '0')
	return sum != 0 && sum%11 == 0
}

// nearWord reports whether one of the words (lower case) appears in the 48
// bytes before a, or is the JSON key.
func (s *scanner) nearWord(a int, words ...string) bool {
	from := max(0, a-48)
	win := s.t[from:a]
	var buf [48]byte
	k := normKey(buf[:], s.key)
	for _, w := range words {
		if k != nil && bytes.Contains(k, []byte(w)) {
			return true
		}
		for i := 0; i+len(w) <= len(win); i++ {
			if hasPrefixFold(win[i:], w) {
				return true
			}
		}
	}
	return false
}

// nanp checks a North American number NXX-NXX-XXXX ending at end.
func (s *scanner) nanp(a int, area, exch, line []byte, end int) {
	if !allOf(area, isDigit) || !allOf(exch, isDigit) || !allOf(line, isDigit) || len(line) != 4 {
		return
	}
	if area[0] < '2' || exch[0] < '2' || (area[1] == '1' && area[2] == '1') {
		return
	}
	t := s.t
	if end < len(t) && (isAlnum(t[end]) || t[end] == '-' || t[end] == '.' && end+1 < len(t) && isDigit(t[end+1])) {
		return
	}
	s.add(dPhone, a, end)
}

// nanpParen matches "(415) 555-2671" with '(' at i.
func (s *scanner) nanpParen(i int) {
	t := s.t
	if i+14 > len(t) || t[i+4] != ')' || t[i+5] != ' ' || (t[i+9] != '-' && t[i+9] != ' ') {
		return
	}
	s.nanp(i, t[i+1:i+4], t[i+6:i+9], t[i+10:i+14], i+14)
}

// e164 matches +<country><number>: 10 to 15 digits, which may be grouped by
// single spaces, hyphens, dots or a bracketed area code.
func (s *scanner) e164(i int) {
	t := s.t
	if i > 0 && (isAlnum(t[i-1]) || t[i-1] == '+') {
		return
	}
	if i+1 >= len(t) || t[i+1] < '1' || t[i+1] > '9' {
		return
	}
	n := 0
	j := i + 1
	last := j
	for j < len(t) {
		c := t[j]
		if isDigit(c) {
			n++
			j++
			last = j
			continue
		}
		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') && j+1 < len(t) && (isDigit(t[j+1]) || t[j+1] == '(') && n > 0 {
			j++
			continue
		}
		break
	}
	if n < 10 || n > 15 || (last < len(t) && isAlnum(t[last])) {
		return
	}
	s.add(dPhone, i, last)
}

// ukPhone matches a UK national number: 0 and ten digits grouped 3-4-4,
// 4-3-4 or 5-6 by single spaces, starting from a word of 3 to 5 digits.
func (s *scanner) ukPhone(a, b int) {
	t := s.t
	w := t[a:b]
	if !allOf(w, isDigit) || w[1] == '0' {
		return
	}
	var groups []int
	switch len(w) {
	case 3:
		groups = []int{4, 4}
	case 4:
		groups = []int{3, 4}
	case 5:
		groups = []int{6}
	}
	i := b
	for _, g := range groups {
		if i+1+g > len(t) || t[i] != ' ' || !allOf(t[i+1:i+1+g], isDigit) {
			return
		}
		i += 1 + g
	}
	if i < len(t) && (isAlnum(t[i]) || t[i] == '-' || t[i] == '.' && i+1 < len(t) && isDigit(t[i+1])) {
		return
	}
	s.add(dPhone, a, i)
}

// email matches local@domain.tld around the '@' at i.
func (s *scanner) email(i int) {
	t := s.t
	a := i
	for a > 0 && a > i-64 {
		c := t[a-1]
		if isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' {
			a--
			continue
		}
		break
	}
	if a == i || t[a] == '.' || t[i-1] == '.' {
		return
	}
	j := i + 1
	labels := 0
	tld := j
	for {
		e := wordEnd(t, j, func(c byte) bool { return isAlnum(c) || c == '-' })
		if e == j || t[j] == '-' || t[e-1] == '-' {
			return
		}
		labels++
		tld = j
		j = e
		if j+1 < len(t) && t[j] == '.' && isAlnum(t[j+1]) {
			j++
			continue
		}
		break
	}
	if labels < 2 || j-tld < 2 || j-tld > 24 || !allOf(t[tld:j], isAlpha) {
		return
	}
	if j < len(t) && (t[j] == '@' || t[j] == '_') {
		return
	}
	// user@host after "://" is a URL's user info.
	if fileExt(t[tld:j]) || inUserInfo(t, a) {
		return
	}
	// git@github.com:owner/repo is an SSH remote, not a person.
	if string(t[a:i]) == "git" && j < len(t) && t[j] == ':' {
		return
	}
	s.add(dEmail, a, j)
}

// inUserInfo reports whether a is inside the user info of a URL
// (scheme://user:password@host), which is not an address.
func inUserInfo(t []byte, a int) bool {
	for k := a - 1; k >= 2 && k > a-256; k-- {
		c := t[k]
		if c == '/' {
			return t[k-1] == '/' && t[k-2] == ':'
		}
		if isSpace(c) || c == '"' || c == '<' {
			return false
		}
	}
	return false
}

// fileExt reports top-level "domains" that are file extensions in
// practice (icon@2x.png, module@latest.js).
func fileExt(e []byte) bool {
	var buf [24]byte
	switch string(normKey(buf[:], e)) {
	case "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "mjs", "cjs", "ts", "tsx", "jsx",
		"css", "scss", "json", "map", "md", "txt", "html", "htm", "xml", "yaml", "yml", "go", "py", "rb", "rs",
		"java", "kt", "swift", "c", "h", "cpp", "zip", "gz", "tgz", "tar", "wasm", "pdf", "lock", "toml", "ini", "sh":
		return true
	}
	return false
}

// upperWord dispatches a word that starts with an upper-case letter.
func (s *scanner) upperWord(a, b int) {
	t := s.t
	w := t[a:b]
	n := len(w)
	if n == 2 && w[0] == 'S' && w[1] == 'G' && b < len(t) && t[b] == '.' {
		s.sendGrid(a)
		return
	}
	if n >= 4 && isUpper(w[1]) && isDigit(w[2]) && isDigit(w[3]) {
		s.iban(a, b)
	}
	if n >= 2 && isUpper(w[1]) {
		switch n {
		case 9:
			if allOf(w[2:8], isDigit) && w[8] >= 'A' && w[8] <= 'D' && ninoPrefix(w[0], w[1]) {
				s.add(dUKNINO, a, b)
			}
		case 2:
			s.ninoSpaced(a, b)
		case 16:
			if codiceFiscale(w) {
				s.add(dITCodiceFiscale, a, b)
			}
		}
	}
	if n == 9 && (w[0] == 'X' || w[0] == 'Y' || w[0] == 'Z') && allOf(w[1:8], isDigit) && isUpper(w[8]) {
		if dniLetter(w[1:8], int(w[0]-'X')) == w[8] {
			s.add(dESDNI, a, b)
		}
	}
}

// sendGrid matches SG.<22>.<43> from a.
func (s *scanner) sendGrid(a int) {
	t := s.t
	i := a + 3
	e := wordEnd(t, i, isB64URL)
	if e-i != 22 || e >= len(t) || t[e] != '.' {
		return
	}
	f := wordEnd(t, e+1, isB64URL)
	if f-(e+1) != 43 {
		return
	}
	s.add(dSendGridKey, a, f)
}

// ninoPrefix applies the UK National Insurance number prefix rules.
func ninoPrefix(a, b byte) bool {
	if bytesContains("DFIQUV", a) || bytesContains("DFIOQUV", b) {
		return false
	}
	switch string([]byte{a, b}) {
	case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
		return false
	}
	return true
}

// ninoSpaced matches "AB 12 34 56 C" from a two-letter word.
func (s *scanner) ninoSpaced(a, b int) {
	t := s.t
	if b+11 > len(t) || !ninoPrefix(t[a], t[a+1]) {
		return
	}
	r := t[b : b+11] // " 12 34 56 C"
	if r[0] != ' ' || r[3] != ' ' || r[6] != ' ' || r[9] != ' ' ||
		!allOf(r[1:3], isDigit) || !allOf(r[4:6], isDigit) || !allOf(r[7:9], isDigit) || r[10] < 'A' || r[10] > 'D' {
		return
	}
	if b+11 < len(t) && isAlnum(t[b+11]) {
		return
	}
	s.add(dUKNINO, a, b+11)
}

// ibanLen is the IBAN length of each country that has one.
var ibanLen = sync.OnceValue(func() map[string]int {
	return map[string]int{
		"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
		"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
		"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
		"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
		"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
		"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
		"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
		"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	}
})

// iban matches an IBAN from a, compact or in groups of four split by
// single spaces, of its country's length and passing the mod-97 check.
func (s *scanner) iban(a, b int) {
	t := s.t
	want, ok := ibanLen()[string(t[a:a+2])]
	if !ok {
		return
	}
	var buf [34]byte
	n := 0
	i := a
	for i < len(t) && n <= want {
		c := t[i]
		switch {
		case isUpper(c) || isDigit(c):
			if n == len(buf) {
				return
			}
			buf[n] = c
			n++
			i++
		case c == ' ' && n%4 == 0 && n < want && i+1 < len(t) && isAlnum(t[i+1]):
			i++
		default:
			goto done
		}
	}
done:
	if n != want || (i < len(t) && isAlnum(t[i])) || !mod97(buf[:n]) {
		return
	}
	s.add(dIBAN, a, i)
}

// mod97 is the ISO 7064 check of an IBAN.
func mod97(v []byte) bool {
	r := 0
	step := func(c byte) {
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	for _, c := range v[4:] {
		step(c)
	}
	for _, c := range v[:4] {
		step(c)
	}
	return r == 1
}

// codiceFiscale checks the shape and check character of an Italian fiscal
// code (with the letters that stand in for digits in homocodes).
func codiceFiscale(w []byte) bool {
	for i, c := range w[:15] {
		switch i {
		case 0, 1, 2, 3, 4, 5, 8, 11:
			if !isUpper(c) {
				return false
			}
		default:
			if !isDigit(c) && !bytesContains("LMNPQRSTUV", c) {
				return false
			}
		}
	}
	if !bytesContains("ABCDEHLMPRST", w[8]) {
		return false
	}
	odd := [36]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}
	sum := 0
	for i, c := range w[:15] {
		v := 0
		if isDigit(c) {
			v = int(c - '0')
		} else {
			v = int(c - 'A')
		}
		if i%2 == 0 { // odd positions, counting from 1
			if isDigit(c) {
				sum += odd[v]
			} else {
				sum += odd[10+v]
			}
		} else {
			sum += v
		}
	}
	return w[15] == byte('A'+sum%26)
}
