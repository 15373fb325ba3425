package models

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest model name or alias.
const MaxNameLen = 128

// LatestAlias is reserved: it always means the highest published version
// and cannot be set or removed.
const LatestAlias = "latest"

// NameError is a model name or alias that breaks the naming rules.
type NameError struct {
	Kind   string // "model name" or "alias"
	Value  string // the rejected value
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("models: invalid %s %q: %s", e.Kind, e.Value, e.Reason)
}

// Unwrap returns ErrInvalidName.
func (e *NameError) Unwrap() error { return ErrInvalidName }

// CheckName reports whether name may name a model: 1 to 128 characters,
// starting with an ASCII letter or digit, then letters, digits, '.', '_' or
// '-', and no "..". Names are case-sensitive; on a case-insensitive file
// system "Churn" and "churn" would share files, so use one case.
func CheckName(name string) error {
	if why := nameRule(name); why != "" {
		return &NameError{Kind: "model name", Value: name, Reason: why}
	}
	return nil
}

// CheckAlias reports whether alias may name an alias: the rules of
// CheckName, and not all digits (a version number) and not "latest".
func CheckAlias(alias string) error {
	why := nameRule(alias)
	if why == "" && strings.Trim(alias, "0123456789") == "" {
		why = "all digits (it would read as a version number)"
	}
	if why == "" && alias == LatestAlias {
		why = `"latest" is reserved for the highest version`
	}
	if why != "" {
		return &NameError{Kind: "alias", Value: alias, Reason: why}
	}
	return nil
}

func nameRule(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxNameLen:
		return fmt.Sprintf("%d bytes, more than %d", len(s), MaxNameLen)
	case !alnum(s[0]):
		return "must start with a letter or digit"
	case strings.Contains(s, ".."):
		return `contains ".."`
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Sprintf("character %q not allowed (letters, digits, '.', '_', '-')", c)
		}
	}
	return ""
}
