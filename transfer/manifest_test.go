package transfer

import (
	"encoding/json"
	"testing"
)

// The manifest reader must refuse anything that is not a whole, current fsxsync manifest with a clear UsageError,
// and never panic; journal lines that are torn or foreign are ignored (their items run again).
func FuzzManifestReader(f *testing.F) {
	good, _ := json.Marshal(ManifestHeader{Version: ManifestVersion, Source: "/fsx/a", Destination: "s3://bucket/p/",
		Shards: 2, ShardItems: []int64{1, 2}, ShardBytes: []int64{10, 20}})
	f.Add(good, []byte(`{"i":1,"key":"a","result":"done","bytes":3}`))
	f.Add([]byte(`{"version": 1, "shards":`), []byte(`{"i":`))
	f.Add([]byte(`{"version":1,"source":"s3:/b","destination":"/x","shards":1,"shard_items":[1],"shard_bytes":[1]}`), []byte(`[]`))
	f.Add([]byte(`{"version":2}`), []byte(`{"i":-1,"result":"done"}`))
	f.Fuzz(func(t *testing.T, header, line []byte) {
		h, err := parseManifestHeader("dir", header)
		if err != nil {
			if _, ok := err.(*UsageError); !ok {
				t.Fatalf("error %v is not a UsageError", err)
			}
		} else {
			if h.Shards < 1 || len(h.ShardItems) != h.Shards || len(h.ShardBytes) != h.Shards {
				t.Fatalf("accepted an inconsistent header %+v", h)
			}
			if _, err := OptionsFromHeader(h); err != nil {
				if _, ok := err.(*UsageError); !ok {
					t.Fatalf("OptionsFromHeader: %v is not a UsageError", err)
				}
			}
		}
		if je, ok := parseJournalLine(line, 5); ok && (je.Index < 0 || je.Index >= 5) {
			t.Fatalf("accepted index %d out of range", je.Index)
		}
	})
}
