package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TLSFiles are the PEM files of a throwaway CA and a server certificate for
// 127.0.0.1 / localhost, written into a temporary directory.
type TLSFiles struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// ClientCertFile/ClientKeyFile are a client certificate signed by the
	// same CA, for servers started with WithTLSClientAuth.
	ClientCertFile string
	ClientKeyFile  string
	CAPool         *x509.CertPool
}

// ClientConfig is a crypto/tls config trusting the test CA.
func (f *TLSFiles) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: f.CAPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// GenerateTLS creates a CA, a server certificate (SAN 127.0.0.1, ::1,
// localhost) and a client certificate in a temporary directory.
func GenerateTLS(tb testing.TB) *TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, withSAN bool) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if withSAN {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		return der, key
	}
	srvDER, srvKey := issue(2, "redistest server", x509.ExtKeyUsageServerAuth, true)
	cliDER, cliKey := issue(3, "redistest client", x509.ExtKeyUsageClientAuth, false)

	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			tb.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	f := &TLSFiles{
		CAFile:         write("ca.crt", "CERTIFICATE", caDER),
		CertFile:       write("server.crt", "CERTIFICATE", srvDER),
		KeyFile:        write("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		ClientCertFile: write("client.crt", "CERTIFICATE", cliDER),
		ClientKeyFile:  write("client.key", "EC PRIVATE KEY", keyDER(cliKey)),
		CAPool:         x509.NewCertPool(),
	}
	f.CAPool.AddCert(caCert)
	return f
}

// TLSOption tunes StartTLS.
type TLSOption func(*tlsSettings)

type tlsSettings struct{ clientAuth bool }

// WithTLSClientAuth makes the server require a client certificate.
func WithTLSClientAuth() TLSOption { return func(s *tlsSettings) { s.clientAuth = true } }

// StartTLS starts a TLS-only redis-server (`--port 0 --tls-port PORT`): Port
// and Addr() are the TLS port; nothing listens in plaintext. The
// certificates are in the returned server's TLS field.
func StartTLS(tb testing.TB, tlsOpts []TLSOption, opts ...Option) *Server {
	tb.Helper()
	var st tlsSettings
	for _, o := range tlsOpts {
		o(&st)
	}
	files := GenerateTLS(tb)
	auth := "no"
	if st.clientAuth {
		auth = "yes"
	}
	port := FreePort(tb)
	all := append([]Option{WithArgs(
		"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", files.CertFile, "--tls-key-file", files.KeyFile,
		"--tls-ca-cert-file", files.CAFile, "--tls-auth-clients", auth,
	)}, opts...)
	s := startOnPort(tb, port, all...)
	s.TLS = files
	return s
}
