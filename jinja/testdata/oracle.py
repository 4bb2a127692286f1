# The differential oracle: renders templates with Jinja2 (python3-jinja2)
# configured as dbt configures it, so Tandem's engine can be compared.
# Input (stdin): JSON list of {"src": ..., "name": ...}. Output: JSON list of
# {"out": ...} or {"err": ...}.
import json, sys
import jinja2, jinja2.sandbox, jinja2.runtime

class MacroReturn(Exception):
    def __init__(self, value):
        self.value = value

_invoke = jinja2.runtime.Macro._invoke
def _invoke_returning(self, arguments, autoescape):
    try:
        return _invoke(self, arguments, autoescape)
    except MacroReturn as r:
        return r.value
jinja2.runtime.Macro._invoke = _invoke_returning

def do_return(value):
    raise MacroReturn(value)

def tojson(value, default=None, sort_keys=False):
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except ValueError:
        return default

def fromjson(string, default=None):
    try:
        return json.loads(string)
    except ValueError:
        return default

env = jinja2.sandbox.SandboxedEnvironment(
    extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
    keep_trailing_newline=True,
)
import re, datetime, pytz
env.globals.update({
    "modules": {"re": re, "datetime": datetime, "pytz": pytz},
    "return": do_return, "zip": lambda *a: list(zip(*a)), "tojson": tojson,
    "fromjson": fromjson, "set": set,
})

out = []
for case in json.load(sys.stdin):
    try:
        t = env.from_string(case["src"])
        out.append({"out": t.render(case.get("vars", {}))})
    except Exception as e:
        out.append({"err": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
