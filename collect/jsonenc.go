package collect

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/tandem-data/tandem/internal/jsonw"
)

// The log's records are written by hand rather than with encoding/json:
// the properties and context of an event are copied from the parsed
// request as compact JSON instead of being decoded into maps and encoded
// again, which was most of the collector's CPU. The output is what
// encoding/json reads back into an Envelope (the loader does).

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
	return jsonw.AppendString(b, value)
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
	b = jsonw.AppendString(b, env.Kind)
	b = appendField(b, "source", env.Source, false)
	b = append(b, `,"received_at":`...)
	b = appendTime(b, env.ReceivedAt)
	if ev := env.Event; ev != nil {
		b = append(b, `,"event":{"message_id":`...)
		b = jsonw.AppendString(b, ev.MessageID)
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
			b = jsonw.AppendString(b, v.Type)
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
