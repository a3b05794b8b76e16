package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
)

// Values compared by conditions come from two places: the policy (YAML,
// compiled once) and the call's arguments (JSON, decoded per call). Both use
// the same Go representation so comparisons need no conversion:
//
//	nil             JSON null / YAML null
//	bool            true, false
//	string          strings (never numbers, whatever they contain)
//	*decimal.Decimal    numbers from the policy, exact
//	json.Number     numbers from the arguments, exact text, parsed on use
//	[]any           arrays / sequences
//	map[string]any  objects / mappings

// maxAdjustedExponent bounds the magnitude of numbers accepted as counter
// amounts, so a hostile argument like 1e99999 cannot make the state store do
// enormous arithmetic. 10^40 is far beyond any real amount.
const maxAdjustedExponent = 40

var errNotNumber = errors.New("not a number")

// parseDecimal parses s exactly. It accepts only finite values.
func parseDecimal(s string) (*decimal.Decimal, error) {
	d, err := decimal.Parse(s)
	if err != nil {
		return nil, errNotNumber
	}
	return &d, nil
}

// asNumber returns v as a decimal when v is a number (from either source).
func asNumber(v any) (*decimal.Decimal, bool) {
	switch x := v.(type) {
	case *decimal.Decimal:
		return x, true
	case json.Number:
		d, err := parseDecimal(string(x))
		if err != nil {
			return nil, false
		}
		return d, true
	}
	return nil, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case *decimal.Decimal, json.Number:
		return true
	}
	return false
}

// valuesEqual is the eq operator: type-strict, numbers compared by value
// (1 == 1.0 == 1e0), strings byte for byte, arrays element-wise in order,
// objects by their key sets and values.
func valuesEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *decimal.Decimal, json.Number:
		xd, ok1 := asNumber(a)
		yd, ok2 := asNumber(b)
		return ok1 && ok2 && xd.Cmp(yd) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !valuesEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// decodeArgs decodes the raw arguments object. Numbers stay exact
// (json.Number). Empty input means no arguments.
func decodeArgs(raw []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	// decodeArgsFast refuses invalid UTF-8: a decoder that replaced it with
	// U+FFFD would check what the server may not read.
	return decodeArgsFast(raw)
}

// jsonText renders a value as compact JSON for explanations and messages.
func jsonText(v any) string {
	switch x := v.(type) {
	case *decimal.Decimal:
		return x.Text('f')
	case json.Number:
		return string(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsonText(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		b, err := json.Marshal(normalizeForJSON(x))
		if err != nil {
			return "?"
		}
		return string(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

func normalizeForJSON(v any) any {
	switch x := v.(type) {
	case *decimal.Decimal:
		return json.Number(x.Text('f'))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeForJSON(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeForJSON(e)
		}
		return out
	}
	return v
}

// parseYAMLNumber parses the text of a YAML !!int or !!float scalar exactly.
// Hex (0x), octal (0o) and binary (0b) integers and digit separators (_) are
// accepted as YAML defines them; a leading zero ("0755") is rejected because
// YAML 1.1 reads it as octal and YAML 1.2 as decimal.
func parseYAMLNumber(text string) (*decimal.Decimal, error) {
	t := strings.ReplaceAll(text, "_", "")
	sign := ""
	body := t
	if strings.HasPrefix(body, "-") || strings.HasPrefix(body, "+") {
		sign, body = body[:1], body[1:]
	}
	lower := strings.ToLower(body)
	if strings.HasPrefix(lower, "0x") || strings.HasPrefix(lower, "0o") || strings.HasPrefix(lower, "0b") {
		var bi big.Int
		if _, ok := bi.SetString(sign+lower, 0); !ok {
			return nil, errNotNumber
		}
		d := decimal.NewFromBig(&bi, 0)
		return &d, nil
	}
	if len(body) > 1 && body[0] == '0' && body[1] >= '0' && body[1] <= '9' {
		return nil, errors.New("a number with a leading zero is ambiguous (octal in YAML 1.1); remove the zero or quote it")
	}
	switch lower {
	case ".inf", ".nan", "inf", "nan", "infinity":
		return nil, errors.New("not a finite number")
	}
	return parseDecimal(sign + body)
}
