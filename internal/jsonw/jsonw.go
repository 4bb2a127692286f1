// Package jsonw writes JSON by hand on hot paths, where encoding/json's
// reflection and maps cost more than the work itself: the collector's log
// records and the online feature server's responses.
package jsonw

import (
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func AppendString[S string | []byte](b []byte, s S) []byte {
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

// AppendValue appends v as compact JSON. fastjson's own MarshalTo quotes
// strings it has unescaped with Go's rules (\x01), which is not JSON.
func AppendValue(b []byte, v *fastjson.Value) []byte {
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
			b = AppendString(b, k)
			b = append(b, ':')
			b = AppendValue(b, v)
		})
		return append(b, '}')
	case fastjson.TypeArray:
		b = append(b, '[')
		for i, x := range v.GetArray() {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendValue(b, x)
		}
		return append(b, ']')
	case fastjson.TypeString:
		return AppendString(b, v.GetStringBytes())
	default: // numbers (validated before parsing), true, false, null
		return v.MarshalTo(b)
	}
}
