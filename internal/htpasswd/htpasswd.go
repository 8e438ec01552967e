// Package htpasswd reads the static users file of the verification page: an
// Apache htpasswd file whose lines are bcrypt hashes, as `htpasswd -B`
// writes them.
package htpasswd

import (
	"crypto/rand"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// bcryptPrefixes are the bcrypt variants accepted. htpasswd -B writes $2y$.
// Other bcrypt libraries write $2a$ or $2b$, which verify the same way.
var bcryptPrefixes = []string{"$2y$", "$2a$", "$2b$"}

// Users is a parsed htpasswd file. It is safe for concurrent use and never
// changes after Parse, so a reload parses a new one.
type Users struct {
	hashes map[string][]byte

	// decoy is a bcrypt hash of a random password, at the cost most users
	// have, which Authenticate compares against for unknown user names so
	// that they take as long as known ones.
	decoy []byte
}

// Parse reads an htpasswd file. Blank lines and lines starting with # are
// ignored. Every other line must be user:hash with a bcrypt hash. The
// error for any other line names its line number and user.
func Parse(data []byte) (*Users, error) {
	u := &Users{hashes: make(map[string][]byte)}
	firstLine := make(map[string]int)
	costCounts := make(map[int]int)

	for i, line := range strings.Split(string(data), "\n") {
		number := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}

		user, hash, found := strings.Cut(line, ":")
		if !found || user == "" {
			return nil, fmt.Errorf("line %d: invalid entry, expected user:hash", number)
		}
		if first, ok := firstLine[user]; ok {
			return nil, fmt.Errorf("line %d (user %s): user already defined on line %d", number, user, first)
		}
		if !hasBcryptPrefix(hash) {
			return nil, fmt.Errorf("line %d (user %s): only bcrypt hashes ($2y$) are supported; recreate it with htpasswd -B",
				number, user)
		}
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("line %d (user %s): invalid bcrypt hash: %w; recreate it with htpasswd -B",
				number, user, err)
		}

		firstLine[user] = number
		u.hashes[user] = []byte(hash)
		costCounts[cost]++
	}

	decoy, err := newDecoyHash(commonestCost(costCounts))
	if err != nil {
		return nil, err
	}
	u.decoy = decoy
	return u, nil
}

func hasBcryptPrefix(hash string) bool {
	for _, prefix := range bcryptPrefixes {
		if strings.HasPrefix(hash, prefix) {
			return true
		}
	}
	return false
}

// commonestCost returns the bcrypt cost that most users have, the higher
// one on a tie, and bcrypt.DefaultCost for a file without users.
func commonestCost(counts map[int]int) int {
	best, bestCount := bcrypt.DefaultCost, 0
	for cost, count := range counts {
		if count > bestCount || (count == bestCount && cost > best) {
			best, bestCount = cost, count
		}
	}
	return best
}

func newDecoyHash(cost int) ([]byte, error) {
	password := make([]byte, 32)
	rand.Read(password)
	hash, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return nil, fmt.Errorf("generating decoy bcrypt hash: %w", err)
	}
	return hash, nil
}

// Authenticate reports whether password is the password of user. For an
// unknown user it still runs one bcrypt comparison, so the response time
// does not tell which user names exist. A nil *Users authenticates no one.
func (u *Users) Authenticate(user, password string) bool {
	if u == nil {
		return false
	}
	hash, known := u.hashes[user]
	if !known {
		hash = u.decoy
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return known && match
}

// Contains reports whether the file defines user. The verification page
// uses it to end the sessions of users removed from the file.
func (u *Users) Contains(user string) bool {
	if u == nil {
		return false
	}
	_, ok := u.hashes[user]
	return ok
}

// Len returns the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.hashes)
}

// String describes the file without any hash, so that a Users value in a
// log line or a test failure leaks nothing.
func (u *Users) String() string {
	return fmt.Sprintf("htpasswd.Users(len=%d)", u.Len())
}
