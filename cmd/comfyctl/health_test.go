package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthExitStatus(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"Server available"}`))
	}))
	defer healthy.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()

	cases := []struct {
		name string
		args []string
		want int
	}{
		{"200 is healthy", []string{"-q", "--url", healthy.URL}, 0},
		{"503 is unhealthy", []string{"-q", "--url", unavailable.URL}, 1},
		{"nothing listening is unhealthy", []string{"-q", "--url", "http://127.0.0.1:1/", "--timeout", "1s"}, 1},
		{"bad flag is a usage error", []string{"--nope"}, 2},
	}
	for _, c := range cases {
		if got := runHealth(c.args); got != c.want {
			t.Errorf("%s: runHealth(%v) = %d, want %d", c.name, c.args, got, c.want)
		}
	}
}
