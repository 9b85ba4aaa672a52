package shared

import (
	"strings"
	"sync"
)

// SyncBuffer collects a process's output while a test reads it: safe for one writer and concurrent readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n bytes written, for failure messages.
func (s *SyncBuffer) Tail(n int) string {
	out := s.String()
	if len(out) > n {
		return "..." + out[len(out)-n:]
	}
	return out
}
