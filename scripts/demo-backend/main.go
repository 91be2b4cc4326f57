// Command demo-backend is the tiny HTTP backend of haproxy-edge's system tests.
//
// It answers every request with 200 and a JSON description of that request, so a test can see which
// backend served it and what the proxies in front of it forwarded:
//
//	{"backend": $NAME, "method": "GET", "path": "/x", "uri": "/x?y=1", "proto": "HTTP/1.1",
//	 "host": "app.example.com", "remote_addr": "10.0.0.2:41234", "headers": {"X-Forwarded-For": "..."}}
//
// Header names are in Go's canonical form (X-Edge-Stage); repeated headers are joined with ", ".
// GET /healthz answers 200 "ok". Environment: NAME (required), PORT (default 8080). Standard library only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type reply struct {
	Backend    string            `json:"backend"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	URI        string            `json:"uri"`
	Proto      string            `json:"proto"`
	Host       string            `json:"host"`
	RemoteAddr string            `json:"remote_addr"`
	Headers    map[string]string `json:"headers"`
}

func handler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		headers := make(map[string]string, len(r.Header))
		for k, v := range r.Header {
			headers[k] = strings.Join(v, ", ")
		}
		body, err := json.Marshal(reply{
			Backend:    name,
			Method:     r.Method,
			Path:       r.URL.Path,
			URI:        r.RequestURI,
			Proto:      r.Proto,
			Host:       r.Host,
			RemoteAddr: r.RemoteAddr,
			Headers:    headers,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		_, _ = w.Write(append(body, '\n'))
	})
	return mux
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("demo-backend: ")
	name := os.Getenv("NAME")
	if name == "" {
		log.Print("the environment variable NAME is required (the backend's name in every answer)")
		os.Exit(2)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		log.Printf("PORT must be a TCP port number, got %q", port)
		os.Exit(2)
	}

	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           handler(name),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second, // keep-alive stays on (the default)
	}
	// PID 1 in a container gets no default signal handling: stop cleanly on TERM/INT ourselves.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("%s listening on :%s", name, port)

	select {
	case err := <-errc:
		log.Print(err)
		os.Exit(1)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "demo-backend:", err)
		os.Exit(1)
	}
}
