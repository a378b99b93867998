// Package jsontest checks that JSON initkit prints follows its
// conventions: every key lowercase snake_case (set by a struct tag, not
// a Go field name), no key twice in an object.
package jsontest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"testing"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$`)

// CheckKeys fails t for each key of data (one JSON value, or several
// after one another) that is not snake_case or is repeated in its
// object, and returns every key path seen ("reports.frames.func").
func CheckKeys(t testing.TB, data []byte) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		err := walk(dec, "", seen)
		if err == io.EOF {
			return seen
		}
		if err != nil {
			t.Errorf("%v\n%s", err, data)
			return seen
		}
	}
}

func walk(dec *json.Decoder, path string, seen map[string]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		keys := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if !snake.MatchString(key) {
				return fmt.Errorf("key %q at %q is not snake_case", key, path)
			}
			if keys[key] {
				return fmt.Errorf("key %q twice at %q", key, path)
			}
			keys[key] = true
			p := key
			if path != "" {
				p = path + "." + key
			}
			seen[p] = true
			if err := walk(dec, p, seen); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, path, seen); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}
