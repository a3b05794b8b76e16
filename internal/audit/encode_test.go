package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// encodeLineJSON is how lines were encoded before the hand encoder: the
// definition appendLine is held to.
func encodeLineJSON(r *Record) ([]byte, error) {
	rc := *r
	rc.Hash = ""
	body, err := json.Marshal(&rc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	line := append(body[:len(body)-1:len(body)-1], `,"hash":"`...)
	line = append(line, hex.EncodeToString(sum[:])...)
	return append(line, "\"}\n"...), nil
}

func checkLine(t *testing.T, r *Record) {
	t.Helper()
	want, wantErr := encodeLineJSON(r)
	got, gotErr := appendLine([]byte("junk"), r, r.Seq, []byte(r.Prev), nil)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("appendLine(%+v) error = %v, want %v", r, gotErr, wantErr)
	}
	if wantErr != nil {
		if string(got) != "junk" {
			t.Errorf("a failed appendLine appended %q", got[4:])
		}
		return
	}
	if !bytes.Equal(got[4:], want) {
		t.Fatalf("appendLine:\n got %s\nwant %s", got[4:], want)
	}
	if h := lineHashOf(got); string(h) != string(want[len(want)-67:len(want)-3]) {
		t.Errorf("lineHashOf = %s", h)
	}
	if _, intact, err := lineHash(got[4 : len(got)-1]); err != nil || !intact {
		t.Errorf("the line does not verify: %v", err)
	}
}

func TestLineEncodingMatchesJSONMarshal(t *testing.T) {
	full := Record{Time: time.Date(2026, 3, 1, 12, 0, 4, 500000000, time.UTC), Event: KindCall, Instance: "3f9c0a1b2c4d",
		Session: "9d<s>&", Identity: "alice \"A\" \\ é", Server: "pay<&>", Tool: "create_refund", Decision: "deny", Monitor: true,
		Rule: "refund cap", Reason: "line\nbreak\ttab\x01\x7f\u2028\u2029 \xff\xfe", Counters: []string{"a/b/c", "<x>"},
		Outcome: "ok", LatencyMS: 182.4, ArgsSHA256: "5e0f", Args: json.RawMessage(`{"a":"<b>&\u2028","n":[1,2.5,null,true]}`),
		Redacted: []string{"args.password"}, StateError: "redis: down", ApprovalID: "apr_1", Approver: "carol",
		Policy: "38abfbc2", Result: "invalid", File: "p.yaml", Errors: []string{"p.yaml:3:5: bad"}, Count: -3,
		Error: "no space", Seq: 1 << 63, Prev: "a41c"}
	tests := map[string]func(r *Record){
		"every member":      func(*Record) {},
		"only what is kept": func(r *Record) { *r = Record{Time: r.Time, Event: KindStop, Seq: 1} },
		"start": func(r *Record) {
			*r = Record{Time: r.Time, Event: KindStart, Start: &StartInfo{Version: "v1", PID: 42, Host: "h", Policy: "p", Mode: "m", State: "s", Server: "node", Identity: "i"}}
		},
		"start, some": func(r *Record) { r.Start = &StartInfo{PID: -1, Server: "x"} },
		"start, none": func(r *Record) { r.Start = &StartInfo{} },
		"empty slices": func(r *Record) {
			r.Counters, r.Redacted, r.Errors, r.Args = []string{}, []string{}, []string{}, json.RawMessage{}
		},
		"local time":       func(r *Record) { r.Time = time.Date(2026, 3, 1, 12, 0, 0, 1, time.FixedZone("x", 3600)) },
		"year 10000":       func(r *Record) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":          func(r *Record) { r.Time = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"zero time":        func(r *Record) { r.Time = time.Time{} },
		"tiny latency":     func(r *Record) { r.LatencyMS = 1e-7 },
		"huge latency":     func(r *Record) { r.LatencyMS = 1e21 },
		"negative latency": func(r *Record) { r.LatencyMS = -0.001 },
		"negative zero":    func(r *Record) { r.LatencyMS = math.Copysign(0, -1) },
		"NaN latency":      func(r *Record) { r.LatencyMS = math.NaN() },
		"infinite latency": func(r *Record) { r.LatencyMS = math.Inf(1) },
		"args with spaces": func(r *Record) { r.Args = json.RawMessage(`{ "a" : [1, 2] }`) },
		"args not JSON":    func(r *Record) { r.Args = json.RawMessage(`{"a":`) },
		"args a string":    func(r *Record) { r.Args = json.RawMessage(`"a b\"<"`) },
		"odd prev":         func(r *Record) { r.Prev = "<\x00\xff>" },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			r := full
			edit(&r)
			checkLine(t, &r)
		})
	}
}

func FuzzLineEncoding(f *testing.F) {
	f.Add("call", "send_email", "a <b> & \"c\"\n", "x\u2028y", []byte(`{"a":1}`), 1.5, int64(1772366400000000001), int64(3), uint64(7), true)
	f.Add("", "", "\xff", "\x00", []byte(`{ "a" :1}`), 1e-7, int64(math.MinInt64), int64(0), uint64(0), false)
	f.Add("stop", "é", "\ufffd", "", []byte(`[1,"\u003c"]`), 1e21, int64(0), int64(-1), uint64(1<<64-1), false)
	f.Fuzz(func(t *testing.T, event, tool, reason, prev string, args []byte, latency float64, unixNano, count int64, seq uint64, monitor bool) {
		r := &Record{Time: time.Unix(0, unixNano).UTC(), Event: event, Instance: tool, Tool: tool, Reason: reason,
			Monitor: monitor, Counters: []string{reason, event}, LatencyMS: latency, Args: args, Errors: []string{prev},
			Count: count, Seq: seq, Prev: prev}
		if unixNano%3 == 0 {
			r.Start = &StartInfo{Version: reason, PID: int(count), Server: tool}
		}
		checkLine(t, r)
	})
}

// TestAppendTimeZ: the audit line's time is what time.RFC3339Nano makes
// of it, for every time whose offset is zero and whose year has four
// digits (in UTC, in a zone of offset zero, at every day of the calendar's
// range and its edges, with and without a fraction of a second); any
// other time is left to the general formatter.
func TestAppendTimeZ(t *testing.T) {
	gmt := time.FixedZone("GMT", 0)
	east := time.FixedZone("UTC+1", 3600)
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	var times []time.Time
	for _, sec := range []int64{lo, lo + 1, hi, hi - 1, 0, -1, 86399, 86400, 951782400, 951868800, 4107542400} {
		for _, ns := range []int{0, 1, 10, 100000000, 999999999, 120000000, 500} {
			times = append(times, time.Unix(sec, int64(ns)).UTC())
		}
	}
	for range 200000 {
		ns := rng.IntN(1_000_000_000)
		switch rng.IntN(4) {
		case 0:
			ns = 0
		case 1:
			ns -= ns % 1000
		}
		times = append(times, time.Unix(lo+rng.Int64N(hi-lo+1), int64(ns)).UTC())
	}
	times = append(times, time.Now(), time.Now().UTC(), time.Now().In(gmt), time.Now().In(east),
		time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	for i, tm := range times {
		if i%3 == 1 {
			tm = tm.In(gmt)
		}
		want := tm.AppendFormat([]byte("x"), time.RFC3339Nano)
		got, ok := appendTimeZ([]byte("x"), tm)
		_, off := tm.Zone()
		wantOK := off == 0 && tm.Year() >= 0 && tm.Year() <= 9999
		if ok != wantOK {
			t.Fatalf("appendTimeZ(%v) ok = %v, want %v", tm, ok, wantOK)
		}
		if ok && string(got) != string(want) {
			t.Fatalf("appendTimeZ(%v) = %s, want %s", tm, got, want)
		}
		if !ok && string(got) != "x" {
			t.Fatalf("appendTimeZ(%v) appended %q though it reported false", tm, got[1:])
		}
	}
}

// TestArgsHashFromScratch: the writer's hash of a call's arguments is
// written as args_sha256 by the hand encoder and by the json.Marshal
// fallback alike (a time the hand encoder leaves to it).
func TestArgsHashFromScratch(t *testing.T) {
	hash := []byte("5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f5e0f")
	for _, tm := range []time.Time{time.Unix(1e9, 5).UTC(), time.Unix(1e9, 5).In(time.FixedZone("X", 3600))} {
		r := &Record{Time: tm, Event: KindCall, Tool: "t"}
		line, err := appendLine(nil, r, 1, nil, hash)
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if got.ArgsSHA256 != string(hash) {
			t.Errorf("time %v: args_sha256 %q, want %q (line %s)", tm, got.ArgsSHA256, hash, line)
		}
	}
}
