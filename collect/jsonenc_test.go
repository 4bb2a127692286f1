package collect

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/tandem-data/tandem/internal/jsonw"
)

// FuzzAppendValue: whatever JSON a client sends, what the collector writes
// to the log is valid JSON that means the same (invalid UTF-8 becoming
// U+FFFD, as encoding/json reads it too), after the validator has read and
// unescaped its strings.
func FuzzAppendValue(f *testing.F) {
	for _, s := range []string{`{"a": "x\u0001y", "b": [1, 2.5e3, -0.1], "c": {"d": null, "e": true}}`, `"\ud83d\ude00 \" \\ \/ \t"`,
		"{\"k\\n\": \"\xff\xfe\", \"k\\n\": 1}", `[{"price": "2.55"}, "<&>"]`, "\"\u2028\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if fastjson.ValidateBytes(in) != nil {
			return
		}
		v, err := fastjson.ParseBytes(loneSurrogates(in))
		if err != nil {
			t.Fatalf("validated but does not parse: %v", err)
		}
		touch(v) // unescape every string, as validation does
		out := jsonw.AppendValue(nil, v)
		if !json.Valid(out) {
			t.Fatalf("%q became invalid JSON %q", in, out)
		}
		var want, got any
		if err := json.Unmarshal(in, &want); err != nil {
			return // fastjson accepts a few things encoding/json does not
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("%q became %q: %#v != %#v", in, out, got, want)
		}
	})
}

func touch(v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeString:
		v.GetStringBytes()
	case fastjson.TypeArray:
		for _, x := range v.GetArray() {
			touch(x)
		}
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, x *fastjson.Value) { touch(x) })
	}
}
