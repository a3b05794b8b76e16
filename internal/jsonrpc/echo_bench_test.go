package jsonrpc

import "testing"

func BenchmarkParseEchoResponse(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":123456,"result":{"content":[{"type":"text","text":"{\"message\":\"hello world, this is a short message\",\"n\":12345,\"kind\":\"a\",\"amount\":0.5}"}]}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Parse(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}
