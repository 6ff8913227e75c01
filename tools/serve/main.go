// Command serve is the static file server of `make demo`: it serves a folder (web/) on a
// local address, with no caching headers so that a rebuilt module is picked up, and prints
// the URL. http://127.0.0.1 is a secure context, so WebGPU and service workers work.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	dir := flag.String("dir", "web", "the `folder` to serve")
	addr := flag.String("addr", "127.0.0.1:8080", "listen `address`")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: serve [-dir web] [-addr 127.0.0.1:8080]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "serve: %s is not a folder\n", *dir)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("serving %s on http://%s/ (Ctrl-C to stop)\n", *dir, ln.Addr())
	files := http.FileServer(http.Dir(*dir))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		os.Exit(1)
	}
}
