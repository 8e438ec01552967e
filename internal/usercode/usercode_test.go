package usercode

import (
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth-operator/internal/config"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  string
		ok    bool
	}{
		{"formatted code", "WDJB-MJHT", "WDJBMJHT", true},
		{"lower case", "wdjb-mjht", "WDJBMJHT", true},
		{"spaces and dashes", " wdjb mj-ht ", "WDJBMJHT", true},
		{"digits", "1234-56789", "123456789", true},
		{"vowel rejected", "WDJB-MJHA", "", false},
		{"punctuation rejected", "WDJB.MJHT", "", false},
		{"empty rejected", " - ", "", false},
		{"too long rejected", strings.Repeat("B", MaxLength+1), "", false},
		{"non-ASCII rejected", "WDJBMJHŤ", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Normalize(tc.input)
			if ok != tc.ok {
				t.Fatalf("Normalize(%q) ok = %v, want %v", tc.input, ok, tc.ok)
			}
			if got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.input, got, tc.want)
			}
		})
	}
}

func TestGenerateUsesOnlyCharset(t *testing.T) {
	for _, tc := range []struct {
		charset  config.UserCodeCharset
		alphabet string
		length   int
	}{
		{config.UserCodeLetters, Letters, 8},
		{config.UserCodeDigits, Digits, 9},
	} {
		seen := map[rune]bool{}
		for range 500 {
			code, err := Generate(tc.charset, tc.length)
			if err != nil {
				t.Fatalf("Generate(%s, %d): %v", tc.charset, tc.length, err)
			}
			if len(code) != tc.length {
				t.Fatalf("Generate(%s, %d) = %q, wrong length", tc.charset, tc.length, code)
			}
			for _, r := range code {
				if !strings.ContainsRune(tc.alphabet, r) {
					t.Fatalf("Generate(%s) = %q has %q outside the charset", tc.charset, code, r)
				}
				seen[r] = true
			}
			if n, ok := Normalize(Format(code)); !ok || n != code {
				t.Fatalf("Normalize(Format(%q)) = %q, %v", code, n, ok)
			}
		}
		if len(seen) != len(tc.alphabet) {
			t.Errorf("500 codes of %s used %d of %d characters", tc.charset, len(seen), len(tc.alphabet))
		}
	}
}

func TestGenerateRejectsUnknownCharset(t *testing.T) {
	if _, err := Generate("emoji", 8); err == nil {
		t.Fatal("Generate with an unknown charset returned no error")
	}
}

func TestFormat(t *testing.T) {
	if got := Format("WDJBMJHT"); got != "WDJB-MJHT" {
		t.Errorf("Format(WDJBMJHT) = %q, want WDJB-MJHT", got)
	}
	if got := Format("123456789"); got != "1234-56789" {
		t.Errorf("Format(123456789) = %q, want 1234-56789", got)
	}
}
