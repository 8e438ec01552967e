package htpasswd

import (
	"testing"

	. "github.com/onsi/gomega"
	"golang.org/x/crypto/bcrypt"
)

// The decoy hash is what makes an unknown user name cost as much as a known
// one, so its cost must follow the users' costs.
func TestDecoyHashHasCommonestCost(t *testing.T) {
	cases := []struct {
		name  string
		costs []int
		want  int
	}{
		{"no users", nil, bcrypt.DefaultCost},
		{"one cost", []int{5, 5}, 5},
		{"majority wins", []int{4, 6, 6}, 6},
		{"tie takes higher cost", []int{4, 5}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			data := ""
			for i, cost := range tc.costs {
				hash, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
				g.Expect(err).NotTo(HaveOccurred())
				data += string(rune('a'+i)) + ":" + string(hash) + "\n"
			}

			users, err := Parse([]byte(data))
			g.Expect(err).NotTo(HaveOccurred())
			cost, err := bcrypt.Cost(users.decoy)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(cost).To(Equal(tc.want))
		})
	}
}
