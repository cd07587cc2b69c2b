#!/usr/bin/env bash
# Does by hand what `qiao connectors new NAME --lang python --capabilities CAPS` does (the layout contract the
# scaffolder follows), then runs the project's build command and its unit tests: a check of the template and SDK
# without the scaffolder.
#   sdk/python/try-template.sh OUT_DIR [CAPS]
# OUT_DIR's last part is the connector name (kebab-case); CAPS is comma-separated WIT names (default messaging; `all`
# for the nine). COMPONENTIZE_PY_TOOLS=DIR reuses an installed componentize-py (see the template's Makefile).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:?usage: try-template.sh OUT_DIR [CAPS]}")
caps=${2:-messaging}
[ "$caps" = all ] && caps=identity,roles,user-status,messaging,approval,tasks,chats,webhook,poll
python=${PYTHON:-python3}
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "$out exists and is not empty" >&2
  exit 1
fi

PYTHONDONTWRITEBYTECODE=1 "$python" - "$here" "$root/wit/v0.2.0" "$out" "$caps" "${QIAO_VERSION:-0.0.0-dev}" <<'PY'
import re, shutil, sys
from pathlib import Path

sdk, contract_dir, out, caps, qiao_version = sys.argv[1:]
sdk, contract_dir, out = Path(sdk), Path(contract_dir), Path(out)
name = out.name
if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
    sys.exit(f"{name}: a connector name is kebab-case, [a-z][a-z0-9-]*")
known = ["identity", "roles", "user-status", "messaging", "approval", "tasks", "chats", "webhook", "poll"]
caps = caps.split(",")
for cap in caps:
    if cap not in known:
        sys.exit(f"unknown capability {cap}; one of {', '.join(known)}")


def pascal(words): return "".join(w.capitalize() for w in words.split("-"))


names = {"__NAME_SNAKE__": name.replace("-", "_"), "__NAME_PASCAL__": pascal(name), "__NAME__": name,
         "__CONTRACT__": "0.2.0", "__QIAO_VERSION__": qiao_version}


def substitute(text, table):
    for token, value in table.items():  # __NAME_SNAKE__ before __NAME__
        text = text.replace(token, value)
    return text


def render(text):
    lines = []
    for line in text.splitlines(keepends=True):
        if "__EACH_CAPABILITY__" in line:
            for cap in caps:
                camel = pascal(cap)[0].lower() + pascal(cap)[1:]
                per_cap = {"__CAP_SNAKE__": cap.replace("-", "_"), "__CAP_CAMEL__": camel,
                           "__CAP_PASCAL__": pascal(cap), "__CAP__": cap}
                lines.append(substitute(line.replace("__EACH_CAPABILITY__", ""), per_cap))
        else:
            lines.append(line)
    return substitute("".join(lines), names)


template = sdk / "template"
kit = dict(re.findall(r'^(\w+)\s*=\s*"([^"]*)"', (template / "kit.toml").read_text(), re.M))
skip = lambda p: "__pycache__" in p.parts or p.suffix == ".pyc"
for path in sorted(template.rglob("*")):
    rel = path.relative_to(template)
    if path.is_dir() or skip(rel) or rel == Path("kit.toml") or rel.parts[0] == "capabilities":
        continue
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_text(render(path.read_text()))
    shutil.copymode(path, out / rel)
for cap in caps:
    file = cap.replace("-", "_") + ".py"
    (out / kit["capabilities_dir"]).mkdir(parents=True, exist_ok=True)
    (out / kit["capabilities_dir"] / file).write_text(render((template / "capabilities" / file).read_text()))
shutil.copytree(sdk / "qiao_sdk", out / kit["sdk_dir"], ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
wit = out / kit["wit_dir"]
(wit / "deps" / "connector").mkdir(parents=True)
exports = "".join(f"    export qiao:connector/{cap}@0.2.0;\n" for cap in caps)
(wit / "world.wit").write_text(f"package vendor:{name};\n\nworld {name} {{\n    include qiao:connector/host@0.2.0;\n"
                               f"    export qiao:connector/describe@0.2.0;\n{exports}}}\n")
for f in sorted(contract_dir.glob("*.wit")):
    shutil.copy(f, wit / "deps" / "connector" / f.name)
print(f"wrote {out} ({name}: {', '.join(caps)}); build: {kit['build']}")
PY

cd "$out"
build=$(sed -n 's/^build *= *"\([^"]*\)".*/\1/p' "$here/template/kit.toml")
start=$(date +%s.%N)
bash -c "$build"
end=$(date +%s.%N)
name=$(basename "$out")
echo "built $name.wasm: $(stat -c %s "$name.wasm") bytes in $(echo "$end - $start" | bc) s"
make test
