package transfer

import (
	"bufio"
	"bytes"
	"testing"
	"time"
)

// FuzzParseJournalLine feeds arbitrary lines to the shard journal's line parser, for shards of any size n. A journal
// can end in a torn line (the task was killed mid-append) and may hold garbage, so the parser has to cope with
// anything. The properties checked:
//
//   - It never panics, and an accepted entry's Index is within [0, n): readJournal and ManifestStatus index a slice
//     of length n with it.
//   - An accepted entry is a fixed point of the journal format: what journal.add writes for it parses back to it.
//   - What journal.add writes for an entry parses back to that entry, except that JSON carries text only as valid
//     UTF-8, so each invalid byte of Key and Error comes back as U+FFFD (the resume logic uses Index and Result
//     only; Key and Error are for reports).
func FuzzParseJournalLine(f *testing.F) {
	for _, je := range []JournalEntry{
		{Index: 0, Key: "a", Result: "done", Bytes: 1},
		{Index: 41, Key: "dir/sub/file.txt", Result: "skipped"},
		{Index: 7, Key: "x \"q\"\n\xff", Result: "failed", Error: "PUT s3://b/x: AccessDenied: <nil>"},
		{Index: 99, Key: "ünïcødé/日本語", Result: "done", Bytes: 1 << 40},
	} {
		f.Add(journalLine(f, je), int64(100))
	}
	for _, s := range []struct {
		line string
		n    int64
	}{
		{"", 10},
		{`{"i":3,"key":"a","result":"done"`, 10}, // A torn last line.
		{`{"i":10,"key":"a","result":"done"}`, 10},
		{`{"i":-1,"key":"a","result":"done"}`, 10},
		{`{"i":0,"key":"a","result":"done"}`, 0},
		{`{"i":0,"key":"a","result":"done"}`, -5},
		{`{"i":1e3,"key":"a"}`, 10000},
		{`{"i":99999999999999999999}`, 10},
		{`{"i":9223372036854775807}`, 9223372036854775807},
		{`{"I":2,"KEY":"b","Result":"skipped"}`, 10},
		{`{"i":2,"i":3}`, 10},
		{`{"i":1,"key":1}`, 10},
		{`null`, 1},
		{`{}`, 1},
		{`[1,2]`, 1},
		{"{\"i\":1,\"key\":\"\xff\xfe\"}", 2},
		{`{"i":1} trailing`, 2},
	} {
		f.Add([]byte(s.line), s.n)
	}
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		je, ok := parseJournalLine(b, n)
		if ok {
			if je.Index < 0 || int64(je.Index) >= n {
				t.Fatalf("parseJournalLine(%q, %d) accepted index %d", b, n, je.Index)
			}
			if je.Result != "done" && je.Result != "skipped" && je.Result != "failed" {
				t.Fatalf("parseJournalLine(%q, %d) accepted result %q", b, n, je.Result)
			}
			// encoding/json matches names without regard to case, and a name may be written with escapes.
			if !bytes.Contains(bytes.ToLower(b), []byte(`"i"`)) && !bytes.Contains(b, []byte(`\u`)) {
				t.Fatalf("parseJournalLine(%q, %d) accepted a line without an index", b, n)
			}
			if back, ok := reparseJournal(t, je, n); !ok || back != je {
				t.Fatalf("parseJournalLine(%q, %d) = %+v, but what journal.add writes for it reads back as %+v, %v", b, n, je, back, ok)
			}
		} else if je != (JournalEntry{}) {
			t.Fatalf("parseJournalLine(%q, %d) rejected the line but returned %+v", b, n, je)
		}

		// The input as the entry's text, which may hold quotes, newlines and invalid UTF-8 like a POSIX name can.
		if n <= 0 {
			return
		}
		in := JournalEntry{Index: int(uint64(len(b)) % uint64(n)), Key: string(b), Result: []string{"done", "skipped", "failed"}[len(b)%3],
			Bytes: int64(len(b)), Error: string(b)}
		back, ok := reparseJournal(t, in, n)
		want := in
		want.Key, want.Error = jsonText(in.Key), jsonText(in.Error)
		if !ok || back != want {
			t.Fatalf("journal.add wrote %+v; it read back as %+v, %v; want %+v", in, back, ok, want)
		}
	})
}

// journalLine is the line journal.add writes for je, without its newline.
func journalLine(tb testing.TB, je JournalEntry) []byte {
	var buf bytes.Buffer
	j := &journal{w: bufio.NewWriter(&buf), last: time.Now().Add(time.Hour)}
	// With last in the future and one pending line, add only buffers: it never reaches j.sync and the nil file.
	if err := j.add(je); err != nil {
		tb.Fatal(err)
	}
	if err := j.w.Flush(); err != nil {
		tb.Fatal(err)
	}
	line, ok := bytes.CutSuffix(buf.Bytes(), []byte("\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		tb.Fatalf("journal.add wrote %q for %+v, not one line", buf.Bytes(), je)
	}
	return line
}

// reparseJournal writes je with journal.add and reads it back as readJournal does.
func reparseJournal(tb testing.TB, je JournalEntry, n int64) (JournalEntry, bool) {
	line := journalLine(tb, je)
	sc := bufio.NewScanner(bytes.NewReader(append(line, '\n')))
	sc.Buffer(nil, 4<<20)
	if !sc.Scan() {
		tb.Fatalf("the line journal.add wrote for %+v does not scan: %v", je, sc.Err())
	}
	return parseJournalLine(sc.Bytes(), n)
}

// jsonText is s as it comes back from a JSON round trip: encoding/json replaces each byte that is not part of valid
// UTF-8 with U+FFFD, as converting a string to runes does.
func jsonText(s string) string { return string([]rune(s)) }

// Lines the journal writer never writes are not results: without an index they would read as item 0, and the last
// line about an item is the one that counts.
func TestParseJournalLineRejects(t *testing.T) {
	for _, line := range []string{`null`, `{}`, `{"result":"done"}`, `{"i":0}`, `{"i":0,"result":"maybe"}`, `{"i":0,"result":""}`} {
		if je, ok := parseJournalLine([]byte(line), 10); ok {
			t.Errorf("parseJournalLine(%s) = %+v, accepted", line, je)
		}
	}
	if je, ok := parseJournalLine([]byte(`{"i":0,"key":"a","result":"done"}`), 10); !ok || je.Result != "done" {
		t.Errorf("a written line was rejected: %+v, %v", je, ok)
	}
}
