// SPDX-License-Identifier: MIT
// A stand-in for profd's HTTP side, for test_pprof_accept.sh: serves one profile file at
// /debug/pprof/profile and answers /debug/pprof/symbol the way pprof-compat.md 1.9 describes
// (num_symbols line, then "0x<addr> sym_0x<addr>" per requested address), logging every request
// on stderr so the test can see whether go tool pprof asked for symbols and for which addresses.
// Usage: pprof_accept_server PROFILE PORTFILE
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	port := fmt.Sprintf("%d\n", ln.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(os.Args[2]+".tmp", []byte(port), 0o644); err != nil {
		os.Exit(1)
	}
	os.Rename(os.Args[2]+".tmp", os.Args[2])
	http.HandleFunc("/debug/pprof/symbol", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if r.Method == "GET" {
			body = []byte(r.URL.RawQuery)
		}
		fmt.Fprintf(os.Stderr, "%s /debug/pprof/symbol %s\n", r.Method, body)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "num_symbols: 1\n")
		for _, a := range strings.Split(string(body), "+") {
			if strings.HasPrefix(a, "0x") {
				fmt.Fprintf(w, "%s sym_%s\n", a, a)
			}
		}
	})
	http.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(os.Stderr, "%s %s\n", r.Method, r.URL.Path)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
	http.Serve(ln, nil)
}
