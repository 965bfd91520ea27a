package examples_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fence is a code block of docs/integrations.md whose info string names an
// example file: ```yaml examples/ci/woodpecker.yml
var fence = regexp.MustCompile("(?ms)^```\\w+ (examples/\\S+)\n(.*?)^```$")

// TestDocsShowTheExamples checks that every code block of
// docs/integrations.md that names an example file is that file's own text
// (a whole file or a verbatim excerpt), and that every example is shown.
func TestDocsShowTheExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/integrations.md")
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, m := range fence.FindAllStringSubmatch(string(doc), -1) {
		path, block := m[1], m[2]
		b, err := os.ReadFile(filepath.Join("..", path))
		if err != nil {
			t.Errorf("docs/integrations.md shows %s, which does not exist", path)
			continue
		}
		if !strings.Contains(string(b), block) {
			t.Errorf("docs/integrations.md shows a block of %s that is not in the file:\n%s", path, block)
		}
		shown[path] = true
	}
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "templates/") || strings.HasSuffix(path, ".ini") {
			return err
		}
		if p := "examples/" + filepath.ToSlash(path); !shown[p] && !strings.Contains(string(doc), "(../"+p+")") {
			t.Errorf("docs/integrations.md neither shows nor links %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
