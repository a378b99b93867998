package oops

import (
	"regexp"
	"testing"
)

// TestExpressionsCompile: every expression compiled on first use is
// valid, so none can panic in the middle of reading a log.
func TestExpressionsCompile(t *testing.T) {
	if len(expressions) < 100 {
		t.Fatalf("%d expressions made: the package's tables are not lazy", len(expressions))
	}
	for _, l := range expressions {
		if _, err := regexp.Compile(l.expr); err != nil {
			t.Errorf("%s: %v", l.expr, err)
		}
	}
}
