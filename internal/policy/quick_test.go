package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestQuickFixtures(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/fixtures/intercept-policies/*.yaml")
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if _, err := Load(filepath.Base(f), data); err != nil {
			t.Errorf("%v", err)
		}
	}
}
