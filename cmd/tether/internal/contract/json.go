package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	yaml "github.com/pb33f/go-yaml"
)

// ToJSON converts a YAML document to indented JSON, keeping the order of
// its keys (so that the served JSON reads like the YAML it comes from).
func ToJSON(src []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(src, &n); err != nil {
		return nil, fmt.Errorf("failed to parse the YAML: %w", err)
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &n); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("failed to indent the JSON: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("failed to convert: %d documents, want 1", len(n.Content))
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("failed to convert line %d: a key that is not a scalar", k.Line)
			}
			writeString(buf, k.Value)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			writeString(buf, n.Value)
		case "!!null":
			buf.WriteString("null")
		case "!!bool":
			b, err := strconv.ParseBool(n.Value)
			if err != nil {
				return fmt.Errorf("failed to convert line %d: %w", n.Line, err)
			}
			buf.WriteString(strconv.FormatBool(b))
		case "!!int", "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return fmt.Errorf("failed to convert line %d: %q is not a JSON number", n.Line, n.Value)
			}
			b, _ := json.Marshal(f)
			buf.Write(b)
		default:
			return fmt.Errorf("failed to convert line %d: tag %s", n.Line, n.ShortTag())
		}
	default:
		return fmt.Errorf("failed to convert line %d: node kind %v", n.Line, n.Kind)
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
