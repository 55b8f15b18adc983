package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The report's JSON is an interface: scripts and dashboards read it. docs/report.schema.json documents it; these
// tests hold the code and the schema to each other, both ways.

func loadReportSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("docs/report.schema.json: %v", err)
	}
	return s
}

func reportJSON(t *testing.T, r *Report) any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReportMatchesSchema(t *testing.T) {
	schema := loadReportSchema(t)
	start := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	full := &Report{Source: "/fsx/me/out", Destination: "s3://b/p/", DryRun: true, Started: start,
		Finished: start.Add(4 * time.Second), Seconds: 4.2, Transferred: Count{5, 12 << 20}, Skipped: Count{1, 10},
		Deleted: Count{2, 20}, Failed: Count{1, 10}, Failures: []Failure{{Key: "a//b", Op: "map key", Error: "unsafe"}},
		Archived: ArchivedCount{Files: 3, Bytes: 30, RestoreRequested: 2, RestoreInProgress: 1},
		Released: ReleasedCount{Restored: 1, Skipped: 2, Read: 3, StillReleased: 4}, SpecialFiles: 2, CleanedUp: 3, Retries: 7,
		CPUSeconds: 1.5, BytesPerCPUSecond: 8 << 20,
		Resumed: 9, Stopped: true, Fatal: "access denied"}
	minimal := newReport(Options{})
	minimal.finish(nil)
	for name, r := range map[string]*Report{"every field set": full, "a plain run": minimal} {
		if err := validate(schema, schema, reportJSON(t, r), "report"); err != nil {
			t.Errorf("%s: the report does not match docs/report.schema.json: %v", name, err)
		}
	}
	// Every property the schema documents is one the report can carry.
	got := reportJSON(t, full).(map[string]any)
	var missing []string
	for k := range schema["properties"].(map[string]any) {
		if _, ok := got[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/report.schema.json documents fields the report never writes: %v", missing)
	}
}

// validate checks v against the subset of JSON Schema the report's schema uses: type, required, properties,
// additionalProperties false, items, minimum, format date-time and local $ref.
func validate(root, s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			return fmt.Errorf("%s: unsupported $ref %q", at, ref)
		}
		return validate(root, root["$defs"].(map[string]any)[name].(map[string]any), v, at)
	}
	switch typ, _ := s["type"].(string); typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", at, v)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range s["required"].([]any) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required field %q missing", at, r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: field %q is not in the schema", at, k)
				}
				continue
			}
			if err := validate(root, ps, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", at, v)
		}
		for i, e := range arr {
			if err := validate(root, s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %T", at, v)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T", at, v)
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s: want a number, got %T", at, v)
		}
		if typ == "integer" && n != float64(int64(n)) {
			return fmt.Errorf("%s: want an integer, got %v", at, n)
		}
		if m, ok := s["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: %v is below the minimum %v", at, n, m)
		}
	default:
		return errors.New(at + ": schema without a supported type")
	}
	return nil
}
