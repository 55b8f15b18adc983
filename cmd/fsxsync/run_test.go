package main

import (
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

func TestEncryptionForRun(t *testing.T) {
	kms := s3store.Encryption{Algorithm: "aws:kms", KMSKeyID: "alias/results", BucketKey: true}
	planned := planEncryption(kms)
	tests := []struct {
		name    string
		given   s3store.Encryption
		planned *transfer.PlanEncryption
		want    s3store.Encryption
		err     string
	}{
		{"no plan flags, none given", s3store.Encryption{}, nil, s3store.Encryption{}, ""},
		{"no plan flags, run's own", kms, nil, kms, ""},
		{"plan flags, none given", s3store.Encryption{}, planned, kms, ""},
		{"plan flags, the same given", kms, planned, kms, ""},
		{"plan flags, another key", s3store.Encryption{Algorithm: "aws:kms", KMSKeyID: "alias/other"}, planned, s3store.Encryption{},
			"was made with --sse aws:kms --sse-kms-key-id alias/results --bucket-key; run was given --sse aws:kms --sse-kms-key-id alias/other"},
		{"plan flags, AES256 given", s3store.Encryption{Algorithm: "AES256"}, planned, s3store.Encryption{},
			"run was given --sse AES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encryptionForRun(tt.given, tt.planned, "/fsx/plan")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || transfer.KindOf(err) != transfer.KindUsage {
					t.Fatalf("err %v, want a usage error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if planEncryption(s3store.Encryption{}) != nil {
		t.Error("planEncryption records a plan without --sse")
	}
}
