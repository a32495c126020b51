package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a config file, located by line and key.
type Problem struct {
	File string
	Line int
	Path string
	Msg  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Path, p.Msg)
}

// Errors collects every problem found, so an operator fixes them all in one
// go instead of one per run.
type Errors struct {
	Problems []Problem
}

func (e *Errors) add(file string, line int, path, msg string) {
	e.Problems = append(e.Problems, Problem{File: file, Line: line, Path: path, Msg: msg})
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *Errors) sort() {
	sort.SliceStable(e.Problems, func(i, j int) bool { return e.Problems[i].Line < e.Problems[j].Line })
}

// Validator is handed to each section's validate method. It knows the line
// of every key path, so sections report problems by path only.
type Validator struct {
	file  string
	lines map[string]int
	errs  *Errors
}

// Errorf records a problem at path (for example "listeners[1].address").
// The message should say what is wrong and what to write instead.
func (v *Validator) Errorf(path, format string, args ...any) {
	v.errs.add(v.file, v.line(path), path, fmt.Sprintf(format, args...))
}

// line finds the line of path, or of its nearest ancestor that was written
// in the file (a default value has no line of its own).
func (v *Validator) line(path string) int {
	for p := path; p != ""; p = parent(p) {
		if l, ok := v.lines[p]; ok {
			return l
		}
	}
	return 1
}

// Set reports whether the file wrote path explicitly.
func (v *Validator) Set(path string) bool {
	_, ok := v.lines[path]
	return ok
}

func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
