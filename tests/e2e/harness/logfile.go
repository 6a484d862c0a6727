package harness

import (
	"bytes"
	"context"
	"os"
	"sync"
	"time"
)

// LogFile appends to a file the sidecar tails, the way PM2 writes ComfyUI's
// stdout/stderr: raw bytes, \r progress states and tracebacks as they are.
type LogFile struct {
	Path string
	mu   sync.Mutex
	f    *os.File
}

// CreateLogFile creates (or truncates) path and keeps it open for appending.
func CreateLogFile(path string) (*LogFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &LogFile{Path: path, f: f}, nil
}

// OpenLogFile opens path for appending without truncating it.
func OpenLogFile(path string) (*LogFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &LogFile{Path: path, f: f}, nil
}

// Write appends b as is.
func (l *LogFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(b)
}

// Line appends s followed by "\n".
func (l *LogFile) Line(s string) error {
	_, err := l.Write([]byte(s + "\n"))
	return err
}

// Truncate empties the file in place (copytruncate-style rotation): the
// writer keeps its descriptor, and O_APPEND writes continue at offset 0.
func (l *LogFile) Truncate() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Truncate(0)
}

// Rotate renames the file to rotated and starts a new file at Path (PM2's
// and logrotate's create-style rotation).
func (l *LogFile) Rotate(rotated string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.Rename(l.Path, rotated); err != nil {
		return err
	}
	_ = l.f.Close()
	f, err := os.OpenFile(l.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.f = f
	return nil
}

// Close closes the descriptor.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// SessionLines splits a session log into lines that keep their own endings
// (\n or \r\n) and every \r progress state inside them.
func SessionLines(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

// ReadSession reads a corpus session log as lines.
func ReadSession(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return SessionLines(b), nil
}

// Replay appends lines at the given rate (lines per second; 0 = as fast as
// possible), on a fixed schedule so a slow write does not slow the rest.
// onLine, if set, is called with each line's index and write time.
func (l *LogFile) Replay(ctx context.Context, lines [][]byte, perSecond float64, onLine func(i int, at time.Time)) error {
	start := time.Now()
	for i, line := range lines {
		if perSecond > 0 {
			due := start.Add(time.Duration(float64(i) / perSecond * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d):
				}
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := l.Write(line); err != nil {
			return err
		}
		if onLine != nil {
			onLine(i, time.Now())
		}
	}
	return nil
}
