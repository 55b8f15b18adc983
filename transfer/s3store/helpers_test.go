package s3store_test

import (
	"os"
	"testing"

	"github.com/fsxsync/fsxsync/internal/s3test"
)

// srv is the versitygw instance shared by this package's tests, started by the first test that needs it.
func srv(t testing.TB) *s3test.Server { return s3test.Shared(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}
