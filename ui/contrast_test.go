package ui

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// contrastPairs are the colours the page puts text (and the focus ring) on,
// as custom properties of ui.css, with the WCAG 2 AA minimum each needs:
// 4.5:1 for text, 3:1 for the focus ring against what it surrounds.
var contrastPairs = []struct {
	fg, bg string
	min    float64
}{
	{"fg", "bg", 4.5},
	{"muted", "bg", 4.5},
	{"link", "bg", 4.5},
	{"fg", "surface", 4.5},
	{"muted", "surface", 4.5},
	{"link", "surface", 4.5},
	{"synced-fg", "synced-bg", 4.5},
	{"out_of_sync-fg", "out_of_sync-bg", 4.5},
	{"failed-fg", "failed-bg", 4.5},
	{"unknown-fg", "unknown-bg", 4.5},
	{"stale-fg", "stale-bg", 4.5},
	{"synced-fg", "bg", 4.5}, // validation passed
	{"failed-fg", "bg", 4.5}, // validation failed
	{"focus", "bg", 3},
	{"focus", "surface", 3},
}

// TestContrast checks every colour pair in the light and the dark palette
// against WCAG AA. Run with -v to see the ratios (docs/ui.md lists them).
func TestContrast(t *testing.T) {
	css, err := files.ReadFile("static/ui.css")
	if err != nil {
		t.Fatal(err)
	}
	light, dark := palettes(t, string(css))
	for _, pal := range []struct {
		name   string
		colors map[string]string
	}{{"light", light}, {"dark", dark}} {
		for _, p := range contrastPairs {
			fg, bg := pal.colors[p.fg], pal.colors[p.bg]
			if fg == "" || bg == "" {
				t.Fatalf("%s palette: --%s or --%s is not set", pal.name, p.fg, p.bg)
			}
			r := contrast(t, fg, bg)
			t.Logf("%-5s %-15s %s on %-14s %s %5.2f:1", pal.name, p.fg, fg, p.bg, bg, r)
			if r < p.min {
				t.Errorf("%s palette: --%s %s on --%s %s is %.2f:1, below %.1f:1", pal.name, p.fg, fg, p.bg, bg, r, p.min)
			}
		}
	}
}

// palettes reads the custom properties of ui.css's first :root block
// (light) and of the :root inside its prefers-color-scheme: dark query; the
// dark palette starts from the light one, as the cascade does.
func palettes(t *testing.T, css string) (light, dark map[string]string) {
	t.Helper()
	prop := regexp.MustCompile(`--([a-z_-]+):\s*(#[0-9a-fA-F]{6})\s*;`)
	read := func(block string) map[string]string {
		m := map[string]string{}
		for _, s := range prop.FindAllStringSubmatch(block, -1) {
			m[s[1]] = s[2]
		}
		return m
	}
	start := strings.Index(css, ":root {")
	end := strings.Index(css[start:], "}")
	light = read(css[start : start+end])
	q := strings.Index(css, "@media (prefers-color-scheme: dark)")
	if start < 0 || q < 0 {
		t.Fatal("ui.css has no :root palette or no dark one")
	}
	dstart := q + strings.Index(css[q:], ":root {")
	dend := strings.Index(css[dstart:], "}")
	dark = map[string]string{}
	for k, v := range light {
		dark[k] = v
	}
	for k, v := range read(css[dstart : dstart+dend]) {
		dark[k] = v
	}
	if len(light) < 10 || len(dark) != len(light) {
		t.Fatalf("read %d light and %d dark colours", len(light), len(dark))
	}
	return light, dark
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(t *testing.T, hex string) float64 {
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	channel := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(v>>16&0xff) + 0.7152*channel(v>>8&0xff) + 0.0722*channel(v&0xff)
}

func TestContrastFormula(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54}, // the well-known lightest AA grey on white
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.a, tt.b), func(t *testing.T) {
			if got := contrast(t, tt.a, tt.b); math.Abs(got-tt.want) > 0.01 {
				t.Fatalf("contrast %.3f, want %.2f", got, tt.want)
			}
		})
	}
}
