// pause holds a pod's namespaces for the node that scripts/node.sh runs: the pod sandbox
// image's only process. It waits for SIGINT or SIGTERM, and reaps the zombies of a pod
// that shares its process namespace (it is then PID 1). Built with CGO_ENABLED=0, it is
// static and runs in a FROM scratch image (Kubernetes' own pause is a C program).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
