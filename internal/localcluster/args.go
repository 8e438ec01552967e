package localcluster

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// mountMapping maps a container mount path to the directory that replaces
// it on this machine.
type mountMapping struct {
	MountPath string
	HostPath  string
}

// rewritePaths replaces each absolute container mount path in s with its
// host directory. A mount path matches only as a whole path prefix: at the
// start of s or after '=', ',' or ':', and followed by the end of s or '/'.
// So "/etc/deviceauth/config" matches in "--config=/etc/deviceauth/config/x"
// and not in "/etc/deviceauth/configuration". Longer mount paths win over
// shorter ones that contain them.
func rewritePaths(s string, mounts []mountMapping) string {
	sorted := append([]mountMapping(nil), mounts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return len(sorted[i].MountPath) > len(sorted[j].MountPath)
	})

	var out strings.Builder
	for i := 0; i < len(s); {
		if atPathStart(s, i) {
			if m, ok := matchMount(s[i:], sorted); ok {
				out.WriteString(m.HostPath)
				i += len(m.MountPath)
				continue
			}
		}
		out.WriteByte(s[i])
		i++
	}
	return out.String()
}

func atPathStart(s string, i int) bool {
	if s[i] != '/' {
		return false
	}
	return i == 0 || strings.ContainsRune("=,:", rune(s[i-1]))
}

func matchMount(s string, mounts []mountMapping) (mountMapping, bool) {
	for _, m := range mounts {
		mountPath := strings.TrimSuffix(m.MountPath, "/")
		if mountPath == "" || !strings.HasPrefix(s, mountPath) {
			continue
		}
		rest := s[len(mountPath):]
		if rest == "" || rest[0] == '/' {
			return mountMapping{MountPath: mountPath, HostPath: m.HostPath}, true
		}
	}
	return mountMapping{}, false
}

// listenPort returns the port of a listen address in arg, which is either a
// whole address (":8080", "0.0.0.0:8080") or a flag with one
// ("--listen=:8080"). Only addresses that bind every interface or loopback
// count: a container binds those, and they are what a pod's port means.
func listenPort(arg string) (int32, bool) {
	value := arg
	if strings.HasPrefix(arg, "-") {
		_, v, ok := strings.Cut(arg, "=")
		if !ok {
			return 0, false
		}
		value = v
	}
	host, portText, err := net.SplitHostPort(value)
	if err != nil {
		return 0, false
	}
	switch host {
	case "", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost":
	default:
		return 0, false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return 0, false
	}
	return int32(port), true
}

// rewriteListenAddress replaces the listen address in arg with
// 127.0.0.1:hostPort when its port is in hostPorts.
func rewriteListenAddress(arg string, hostPorts map[int32]int) string {
	port, ok := listenPort(arg)
	if !ok {
		return arg
	}
	hostPort, ok := hostPorts[port]
	if !ok {
		return arg
	}
	address := net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
	if name, _, isFlag := strings.Cut(arg, "="); isFlag && strings.HasPrefix(arg, "-") {
		return name + "=" + address
	}
	return address
}

// rewriteArgs maps a container's arguments to this machine: mount paths to
// host directories, then listen addresses to loopback ports.
func rewriteArgs(args []string, mounts []mountMapping, hostPorts map[int32]int) []string {
	out := make([]string, len(args))
	for i, arg := range args {
		out[i] = rewriteListenAddress(rewritePaths(arg, mounts), hostPorts)
	}
	return out
}

// listenPorts returns the ports of the listen addresses in args, in order
// of first appearance.
func listenPorts(args []string) []int32 {
	var ports []int32
	seen := make(map[int32]bool)
	for _, arg := range args {
		if port, ok := listenPort(arg); ok && !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	return ports
}

// FreeLoopbackPort returns a TCP port on 127.0.0.1 that the kernel reports
// free. Another process could take it before the caller binds it, which is
// unlikely on a test machine.
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
