package localcluster

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestRewritePaths(t *testing.T) {
	mounts := []mountMapping{
		{MountPath: "/etc/deviceauth/config", HostPath: "/tmp/root/etc/deviceauth/config"},
		{MountPath: "/etc/deviceauth/keys", HostPath: "/tmp/root/etc/deviceauth/keys"},
		{MountPath: "/etc/deviceauth", HostPath: "/tmp/root/etc/deviceauth"},
		{MountPath: "/data/", HostPath: "/tmp/root/data"},
	}
	cases := []struct {
		name, in, want string
	}{
		{"flag with file", "--config=/etc/deviceauth/config/config.json", "--config=/tmp/root/etc/deviceauth/config/config.json"},
		{"flag with directory", "--keys-dir=/etc/deviceauth/keys", "--keys-dir=/tmp/root/etc/deviceauth/keys"},
		{"bare path", "/etc/deviceauth/keys/signing-key.pem", "/tmp/root/etc/deviceauth/keys/signing-key.pem"},
		{"parent mount", "/etc/deviceauth/users/htpasswd", "/tmp/root/etc/deviceauth/users/htpasswd"},
		{"mount with trailing slash", "--dir=/data/bolt.db", "--dir=/tmp/root/data/bolt.db"},
		{"prefix of a longer name", "--x=/etc/deviceauth/configuration", "--x=/tmp/root/etc/deviceauth/configuration"},
		{"not a mount", "--file=/var/lib/thing", "--file=/var/lib/thing"},
		{"inside another path", "--file=/opt/etc/deviceauth/keys", "--file=/opt/etc/deviceauth/keys"},
		{"list of paths", "--dirs=/etc/deviceauth/keys,/etc/deviceauth/config", "--dirs=/tmp/root/etc/deviceauth/keys,/tmp/root/etc/deviceauth/config"},
		{"plain value", "--storage=memory", "--storage=memory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(rewritePaths(tc.in, mounts)).To(Equal(tc.want))
		})
	}
}

func TestRewritePathsWholeComponent(t *testing.T) {
	g := NewWithT(t)
	mounts := []mountMapping{{MountPath: "/etc/deviceauth/config", HostPath: "/r/config"}}

	g.Expect(rewritePaths("--x=/etc/deviceauth/configuration", mounts)).
		To(Equal("--x=/etc/deviceauth/configuration"), "a mount path matches only whole components")
	g.Expect(rewritePaths("--x=/etc/deviceauth/config", mounts)).To(Equal("--x=/r/config"))
}

func TestListenPort(t *testing.T) {
	cases := []struct {
		arg  string
		port int32
		ok   bool
	}{
		{"--listen=:8080", 8080, true},
		{"--admin-listen=0.0.0.0:8081", 8081, true},
		{"-listen=127.0.0.1:9000", 9000, true},
		{"--listen=[::]:8443", 8443, true},
		{":8080", 8080, true},
		{"localhost:7000", 7000, true},
		{"--redis=10.0.0.5:6379", 0, false},
		{"--listen", 0, false},
		{"--listen=:http", 0, false},
		{"--listen=:0", 0, false},
		{"--storage=memory", 0, false},
		{"--issuer=http://127.0.0.1:8080", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.arg, func(t *testing.T) {
			g := NewWithT(t)
			port, ok := listenPort(tc.arg)
			g.Expect(ok).To(Equal(tc.ok))
			g.Expect(port).To(Equal(tc.port))
		})
	}
}

func TestRewriteArgs(t *testing.T) {
	g := NewWithT(t)
	args := []string{
		"--config=/etc/deviceauth/config/config.json",
		"--keys-dir=/etc/deviceauth/keys",
		"--htpasswd=/etc/deviceauth/users/htpasswd",
		"--listen=:8080",
		"--admin-listen=:8081",
		"--metrics", ":9090",
		"--storage=memory",
	}
	mounts := []mountMapping{
		{MountPath: "/etc/deviceauth/config", HostPath: "/tmp/r/etc/deviceauth/config"},
		{MountPath: "/etc/deviceauth/keys", HostPath: "/tmp/r/etc/deviceauth/keys"},
		{MountPath: "/etc/deviceauth/users", HostPath: "/tmp/r/etc/deviceauth/users"},
	}
	hostPorts := map[int32]int{8080: 18080, 8081: 41001, 9090: 41002}

	g.Expect(rewriteArgs(args, mounts, hostPorts)).To(Equal([]string{
		"--config=/tmp/r/etc/deviceauth/config/config.json",
		"--keys-dir=/tmp/r/etc/deviceauth/keys",
		"--htpasswd=/tmp/r/etc/deviceauth/users/htpasswd",
		"--listen=127.0.0.1:18080",
		"--admin-listen=127.0.0.1:41001",
		"--metrics", "127.0.0.1:41002",
		"--storage=memory",
	}))
	g.Expect(args[3]).To(Equal("--listen=:8080"), "the input is not modified")
}

func TestRewriteArgsUnmappedPort(t *testing.T) {
	g := NewWithT(t)
	got := rewriteArgs([]string{"--listen=:8080", "--other=:7000"}, nil, map[int32]int{8080: 30000})
	g.Expect(got).To(Equal([]string{"--listen=127.0.0.1:30000", "--other=:7000"}))
}

func TestListenPorts(t *testing.T) {
	g := NewWithT(t)
	ports := listenPorts([]string{"--admin-listen=:8081", "--listen=:8080", "--again=:8081", "--storage=memory"})
	g.Expect(ports).To(Equal([]int32{8081, 8080}))
}
