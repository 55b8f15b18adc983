//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// serverTLS is a throwaway certificate authority and a server certificate for 127.0.0.1 it signed, written as PEM
// files for versitygw (--cert, --key) and for the tools, which trust the CA (AWS_CA_BUNDLE, rclone's --ca-cert)
// and so verify the server as they would verify S3. Nothing is committed and nothing outlives the work directory.
type serverTLS struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool // the CA, for the harness's own requests
}

// newServerTLS generates the CA and the certificate into dir. ECDSA P-256, as many real endpoints use; the bulk of
// the TLS cost on these rows is the record cipher (AES-GCM), not the handshake, and connections are reused.
func newServerTLS(dir string) (*serverTLS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fsxsync bench throwaway CA"},
		NotBefore:             now.Add(-time.Hour), // a little slack for clocks
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		// Clients check the IP SAN: the endpoint is https://127.0.0.1:PORT.
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	t := &serverTLS{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"),
		keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	t.pool.AddCert(ca)
	for _, f := range []struct {
		path, kind string
		der        []byte
	}{{t.caFile, "CERTIFICATE", caDER}, {t.certFile, "CERTIFICATE", der}, {t.keyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.kind, Bytes: f.der}), 0o600); err != nil {
			return nil, err
		}
	}
	return t, nil
}
