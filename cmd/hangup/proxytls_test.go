package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCert writes a self-signed certificate and its key as PEM files
// in dir, and returns their paths.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestProxyUpstreamTLSFlags: the --upstream-* TLS flags make the upstream
// TLS configuration, and each mistake is one line that names the flag and
// says what to give.
func TestProxyUpstreamTLSFlags(t *testing.T) {
	withProxyEnv(t, nil)
	dir := t.TempDir()
	cert, key := writeTestCert(t, dir)
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	missing := filepath.Join(dir, "missing.pem")
	https := []string{"--upstream", "https://10.0.0.1:9443"}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error; "" for none
		// what the configuration holds, without an error
		roots, certs int
		serverName   string
		insecure     bool
	}{
		{name: "none", args: https},
		{name: "private CA", args: []string{"--upstream-ca", cert}, roots: 1},
		{name: "server name", args: []string{"--upstream-server-name", "app.internal"}, serverName: "app.internal"},
		{name: "client certificate", args: []string{"--upstream-cert", cert, "--upstream-key", key}, certs: 1},
		{name: "skip verify", args: []string{"--upstream-insecure-skip-verify"}, insecure: true},
		{name: "missing CA file", args: []string{"--upstream-ca", missing}, want: "--upstream-ca: open " + missing + ": no such file or directory: give a readable PEM file"},
		{name: "CA file of no certificate", args: []string{"--upstream-ca", junk}, want: "--upstream-ca " + junk + ": no PEM certificate in it"},
		{name: "certificate without key", args: []string{"--upstream-cert", cert}, want: "--upstream-cert and --upstream-key go together"},
		{name: "key without certificate", args: []string{"--upstream-key", key}, want: "--upstream-cert and --upstream-key go together"},
		{name: "unreadable client certificate", args: []string{"--upstream-cert", missing, "--upstream-key", key}, want: "--upstream-cert " + missing + " / --upstream-key " + key + ": open"},
		{name: "junk client certificate", args: []string{"--upstream-cert", junk, "--upstream-key", key}, want: "give a PEM certificate and its private key"},
		{name: "skip verify with a CA", args: []string{"--upstream-insecure-skip-verify", "--upstream-ca", cert}, want: "give one or the other"},
		{name: "no https upstream", args: []string{"--upstream", "http://10.0.0.1:9000", "--upstream-ca", cert}, want: "are for https:// upstreams, and none is given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if len(args) == 0 || args[0] != "--upstream" {
				args = append(append([]string{}, https...), args...)
			}
			f, err := parseProxyFlags(args, io.Discard)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errUsage) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one usage line that says %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := f.cfg.UpstreamTLS
			if tc.name == "none" {
				if c != nil {
					t.Errorf("UpstreamTLS %+v, want nil without the flags", c)
				}
				return
			}
			roots := 0
			if c.RootCAs != nil {
				roots = len(c.RootCAs.Subjects())
			}
			if roots != tc.roots || len(c.Certificates) != tc.certs || c.ServerName != tc.serverName || c.InsecureSkipVerify != tc.insecure {
				t.Errorf("UpstreamTLS: %d roots, %d certificates, name %q, insecure %v; want %d, %d, %q, %v",
					roots, len(c.Certificates), c.ServerName, c.InsecureSkipVerify, tc.roots, tc.certs, tc.serverName, tc.insecure)
			}
		})
	}
}
