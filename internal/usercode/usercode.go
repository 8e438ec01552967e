// Package usercode draws, normalizes and formats the user codes that people
// type on the verification page (RFC 8628 section 6.1).
package usercode

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/deviceauth/deviceauth-operator/internal/config"
)

const (
	// Letters is the 20 consonants of the Letters charset. Without vowels a
	// code spells no words, and no two characters look alike.
	Letters = "BCDFGHJKLMNPQRSTVWXZ"

	// Digits is the Digits charset.
	Digits = "0123456789"
)

// MaxLength is the longest user code accepted from a person: longer input
// cannot match any code and is rejected before a store lookup.
const MaxLength = 20

// Alphabet returns the characters of charset.
func Alphabet(charset config.UserCodeCharset) (string, error) {
	switch charset {
	case config.UserCodeLetters:
		return Letters, nil
	case config.UserCodeDigits:
		return Digits, nil
	}
	return "", fmt.Errorf("unknown user code charset %q", charset)
}

// Generate draws a normalized user code of length characters from charset,
// each chosen uniformly with crypto/rand.
func Generate(charset config.UserCodeCharset, length int) (string, error) {
	alphabet, err := Alphabet(charset)
	if err != nil {
		return "", err
	}
	if length < 1 || length > MaxLength {
		return "", fmt.Errorf("user code length %d is outside 1..%d", length, MaxLength)
	}
	code := make([]byte, length)
	for i := range code {
		code[i] = alphabet[randomIndex(len(alphabet))]
	}
	return string(code), nil
}

// randomIndex returns a uniform integer in [0, n) for n <= 256, rejecting
// bytes past the largest multiple of n so that no index is favoured.
func randomIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// Normalize turns what a person typed into the stored form: upper case,
// without dashes and whitespace. It reports false when the result is empty,
// too long, or has a character outside both charsets, so such input never
// reaches the store.
func Normalize(input string) (string, bool) {
	var b strings.Builder
	for _, r := range input {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if !strings.ContainsRune(Letters, r) && !strings.ContainsRune(Digits, r) {
			return "", false
		}
		if b.Len() == MaxLength {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}

// Format inserts a dash in the middle of a normalized code for display:
// WDJBMJHT becomes WDJB-MJHT, and a 9-digit code becomes 1234-56789.
func Format(code string) string {
	if len(code) < 6 {
		return code
	}
	half := len(code) / 2
	return code[:half] + "-" + code[half:]
}
