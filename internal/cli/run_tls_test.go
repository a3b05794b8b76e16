package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tollgate test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestHTTPFrontTLS: with --tls-cert and --tls-key the front serves MCP over
// HTTPS only, through the binary.
func TestHTTPFrontTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	url := htRunBinary(t, "--tls-cert", certFile, "--tls-key", keyFile, "--", mcptest.Peer(t, "everything-server"))
	url = "https" + strings.TrimPrefix(url, "http")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(got.String(), `"protocolVersion"`) {
		t.Fatalf("HTTPS initialize: HTTP %d, TLS %v: %s", resp.StatusCode, resp.TLS != nil, got.String())
	}
	// Plain HTTP on the same port is not MCP.
	plain, err := http.Post("http"+strings.TrimPrefix(url, "https"), "application/json", strings.NewReader(body))
	if err == nil {
		defer plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS port answered %d", plain.StatusCode)
		}
	}
}

func TestHTTPFrontTLSUsage(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	pol := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pol, []byte("version: \"1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cert without key", []string{"--listen", "127.0.0.1:0", "--tls-cert", certFile}, exitUsage, "go together"},
		{"key is not a key", []string{"--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", certFile}, exitFail, "--tls-cert/--tls-key"},
		{"missing file", []string{"--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", filepath.Join(t.TempDir(), "nope.pem")}, exitFail, "no such file"},
		{"without --listen", []string{"--tls-cert", certFile, "--tls-key", keyFile, "--api-keys", "k.yaml"}, exitUsage, "--api-keys, --tls-cert, --tls-key only apply to an HTTP front"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append(append([]string{"run", "-c", pol, "--state", "memory"}, tc.args...), "--", "cat")
			code := Main(t.Context(), args, strings.NewReader(""), &bytes.Buffer{}, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}
