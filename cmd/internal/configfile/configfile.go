// Package configfile reads a command's settings from a YAML file into its
// flag.FlagSet, so that the file holds everything the flags hold, with the
// same spellings and the same checks: each key is a flag's name with _ for
// - (max_inflight for --max-inflight), and its value is what the flag would
// be given (10s, 16MiB, true). JSON is YAML's flow style, so a JSON file is
// read the same way.
//
// Decoding is strict: a key that is no flag's is an error that names it and
// its line (and the flag's spelling when the key has a dash), rather than a
// setting silently ignored, as a typo in a file would otherwise be.
// Keys whose value is more than a flag can say (a list of tables) are read
// by the caller (Options.Own), with Where for its errors.
//
// YAML (go.yaml.in/yaml/v3, the YAML organisation's maintained fork of
// gopkg.in/yaml.v3) rather than TOML: it reads JSON too, and a list of
// upstreams, each a table of its settings, is one indented block.
package configfile

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is a parsed settings file: one mapping.
type File struct {
	name string
	root *yaml.Node
}

// Read reads and parses the file at path. It fails when the file cannot be
// read, is not YAML (or JSON), or holds something other than one mapping of
// keys; the error names the file and, for a syntax error, the line. An
// empty file is a mapping of no keys.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%v: give a readable YAML or JSON file", err)
	}
	f := &File{name: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, f.syntax(err)
	}
	switch {
	case len(doc.Content) == 0:
		f.root = &yaml.Node{Kind: yaml.MappingNode}
	case doc.Content[0].Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%s: want a mapping of keys to values (key: value), got a %s", f.Where(doc.Content[0]), kindName(doc.Content[0].Kind))
	default:
		f.root = doc.Content[0]
	}
	return f, nil
}

// yamlLine and typeLine are how go.yaml.in/yaml/v3 starts a syntax error
// and each error of a TypeError.
var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)
	typeLine = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// syntax says err, a syntax error, as FILE:LINE: what.
func (f *File) syntax(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s: fix the YAML (or JSON) syntax", f.name, m[1], msg[len(m[0]):])
	}
	return fmt.Errorf("%s: %s: fix the YAML (or JSON) syntax", f.name, strings.TrimPrefix(msg, "yaml: "))
}

// Where is n's place in the file, FILE:LINE, for errors.
func (f *File) Where(n *yaml.Node) string { return fmt.Sprintf("%s:%d", f.name, n.Line) }

// Options are how Apply maps keys to flags.
type Options struct {
	// Given reports whether a flag was given a higher-ranking way (the
	// command line, the environment): Apply leaves it as it is.
	Given func(name string) bool
	// Lists are the flags (by name) that take several values: their key
	// may hold a YAML list, each item Set on its own, or one value.
	Lists []string
	// Own maps keys to the readers of their values, for keys that are not
	// a flag's (or say more than it does); they are called even when the
	// flag of the same name was given.
	Own map[string]func(n *yaml.Node) []error
	// Skip names flags that the file may not set (the file's own flag).
	Skip []string
}

// Apply sets fs's flags from f's keys, as Options say. It returns where
// each flag that it set was set (FILE:LINE, by the flag's name), and every
// error, each naming the key and its place.
func (f *File) Apply(fs *flag.FlagSet, o Options) (set map[string]string, errs []error) {
	set = make(map[string]string)
	seen := make(map[string]bool)
	for i := 0; i+1 < len(f.root.Content); i += 2 {
		k, v := f.root.Content[i], f.root.Content[i+1]
		key := k.Value
		at := f.Where(k)
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s: key %q given twice: give it once", at, key))
			continue
		}
		seen[key] = true
		if read, ok := o.Own[key]; ok {
			errs = append(errs, read(v)...)
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		fl := fs.Lookup(name)
		if fl == nil || strings.Contains(key, "-") || slices.Contains(o.Skip, name) {
			errs = append(errs, unknownKey(at, key, fs, o))
			continue
		}
		if o.Given != nil && o.Given(name) {
			continue
		}
		values, err := scalars(f, key, v, slices.Contains(o.Lists, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range values {
			if err := fs.Set(name, s.Value); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: invalid value %q: %v%s", f.Where(s), key, s.Value, err, want(fl)))
			}
		}
		set[name] = at
	}
	return set, errs
}

// want says what fl takes, for the flag package's bare "parse error".
func want(fl *flag.Flag) string {
	g, ok := fl.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return ": want a duration such as 500ms, 10s or 2m"
	case int, int64, uint, uint64:
		return ": want a whole number"
	case bool:
		return ": want true or false"
	}
	return ""
}

// scalars are the values of key, node n: one scalar, or, if list, a
// sequence of them.
func scalars(f *File, key string, n *yaml.Node, list bool) ([]*yaml.Node, error) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, fmt.Errorf("%s: %s has no value: give one, or remove the key", f.Where(n), key)
	case n.Kind == yaml.ScalarNode:
		return []*yaml.Node{n}, nil
	case n.Kind == yaml.SequenceNode && list:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: %s: want a list of values, got a %s in it", f.Where(item), key, kindName(item.Kind))
			}
		}
		return n.Content, nil
	case list:
		return nil, fmt.Errorf("%s: %s: want a value or a list of values, got a %s", f.Where(n), key, kindName(n.Kind))
	}
	return nil, fmt.Errorf("%s: %s: want one value, got a %s", f.Where(n), key, kindName(n.Kind))
}

// unknownKey is the error for a key that is no flag's, with the key meant
// when it is a flag's name with - for _.
func unknownKey(at, key string, fs *flag.FlagSet, o Options) error {
	name := strings.ReplaceAll(key, "_", "-")
	if fs.Lookup(name) != nil && !slices.Contains(o.Skip, name) {
		return fmt.Errorf("%s: unknown key %q: write %s (a flag's name with _ for -)", at, key, strings.ReplaceAll(key, "-", "_"))
	}
	return fmt.Errorf("%s: unknown key %q: the keys are the flags' names with _ for - (see -h)", at, key)
}

// Strict decodes n, a mapping, into v, a pointer to a struct whose fields
// have yaml tags, refusing keys that are none of them: each error names the
// key (as what.key) and its place. It decodes what it can and returns every
// error.
func (f *File) Strict(n *yaml.Node, what string, v any, known []string) []error {
	if n.Kind != yaml.MappingNode {
		return []error{fmt.Errorf("%s: %s: want a mapping of keys to values, got a %s", f.Where(n), what, kindName(n.Kind))}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			errs = append(errs, fmt.Errorf("%s: unknown key %q in %s: the keys are %s", f.Where(k), k.Value, what, strings.Join(known, ", ")))
		}
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return append(errs, fmt.Errorf("%s: %s: %v", f.Where(n), what, err))
		}
		for _, e := range te.Errors {
			// "line 7: cannot unmarshal !!str `many` into int"
			if m := typeLine.FindStringSubmatch(e); m != nil {
				errs = append(errs, fmt.Errorf("%s:%s: %s: %s", f.name, m[1], what, m[2]))
			} else {
				errs = append(errs, fmt.Errorf("%s: %s: %s", f.Where(n), what, e))
			}
		}
	}
	return errs
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
