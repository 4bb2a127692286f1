package collect

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// The log's records are written by hand rather than with encoding/json:
// the properties and context of an event are copied from the parsed
// request as compact JSON instead of being decoded into maps and encoded
// again, which was most of the collector's CPU. The output is what
// encoding/json reads back into an Envelope (the loader does).

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString[S string | []byte](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValue appends v as compact JSON. fastjson's own MarshalTo quotes
// strings it has unescaped with Go's rules (\x01), which is not JSON.
func appendValue(b []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		b = append(b, '{')
		first := true
		o.Visit(func(k []byte, v *fastjson.Value) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendValue(b, v)
		})
		return append(b, '}')
	case fastjson.TypeArray:
		b = append(b, '[')
		for i, x := range v.GetArray() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, x)
		}
		return append(b, ']')
	case fastjson.TypeString:
		return appendString(b, v.GetStringBytes())
	default: // numbers (validated before parsing), true, false, null
		return v.MarshalTo(b)
	}
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendField(b []byte, name, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func appendRaw(b []byte, name string, raw []byte) []byte {
	if len(raw) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, raw...)
}

// appendEnvelope appends env as one JSON object, the fields named as the
// struct tags of Envelope and Event say.
func appendEnvelope(b []byte, env *Envelope) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, env.Kind)
	b = appendField(b, "source", env.Source, false)
	b = append(b, `,"received_at":`...)
	b = appendTime(b, env.ReceivedAt)
	if ev := env.Event; ev != nil {
		b = append(b, `,"event":{"message_id":`...)
		b = appendString(b, ev.MessageID)
		b = appendField(b, "type", ev.Type, false)
		b = appendField(b, "event", ev.Event, true)
		b = appendField(b, "user_id", ev.UserID, true)
		b = appendField(b, "anonymous_id", ev.AnonymousID, true)
		b = appendField(b, "group_id", ev.GroupID, true)
		b = appendField(b, "previous_id", ev.PreviousID, true)
		b = append(b, `,"timestamp":`...)
		b = appendTime(b, ev.Timestamp)
		if !ev.SentAt.IsZero() {
			b = append(b, `,"sent_at":`...)
			b = appendTime(b, ev.SentAt)
		}
		b = appendRaw(b, "properties", ev.Properties)
		b = appendRaw(b, "traits", ev.Traits)
		b = appendRaw(b, "context", ev.Context)
		b = append(b, '}')
	}
	if len(env.Violations) > 0 {
		b = append(b, `,"violations":[`...)
		for i, v := range env.Violations {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":`...)
			b = appendString(b, v.Type)
			b = appendField(b, "path", v.Path, false)
			b = appendField(b, "message", v.Message, false)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendRaw(b, "raw", env.Raw)
	return append(b, '}')
}

// loneSurrogates rewrites a body that escapes UTF-16 surrogates (\ud800 to
// \udfff) through encoding/json, which reads a lone one as U+FFFD; fastjson
// would keep its six characters as text. Valid pairs mean the same either
// way; the rewrite is rare and costs one decode and encode.
func loneSurrogates(b []byte) []byte {
	found := false
	for i := 0; i+3 < len(b); i++ {
		if b[i] == '\\' && b[i+1] == 'u' && (b[i+2] == 'd' || b[i+2] == 'D') && strings.IndexByte("89abcdefABCDEF", b[i+3]) >= 0 {
			found = true
			break
		}
	}
	if !found {
		return b
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}
