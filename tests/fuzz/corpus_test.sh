#!/usr/bin/env bash
# corpus_test.sh MAKE_CORPUS CORPUS_DIR — the generated seeds in the tree
# (corpus/*/gen_*) are what make_corpus writes today. When a format or a zoo
# model changes, this fails; rerun
#   bazel run //tests/fuzz:make_corpus -- $PWD/tests/fuzz/corpus
# and commit the new seeds, so the fuzzers start from inputs the code accepts
# (the checkpoint seed, for one, must load into fuzz_util.h's model).
set -euo pipefail
make_corpus=$1
corpus=$2
out=${TEST_TMPDIR:-$(mktemp -d)}/corpus
for d in "${corpus}"/*/; do mkdir -p "${out}/$(basename "${d}")"; done
"${make_corpus}" "${out}" >/dev/null
failed=0
generated=0
for f in "${out}"/*/gen_*; do
  generated=$((generated + 1))
  tree=${corpus}/${f#"${out}/"}
  if ! cmp -s "${f}" "${tree}"; then
    echo "FAILED: ${tree} differs from what make_corpus writes (or is missing)"
    failed=1
  fi
done
for f in "${corpus}"/*/gen_*; do
  [[ -e "${out}/${f#"${corpus}/"}" ]] || { echo "FAILED: ${f} is no longer generated"; failed=1; }
done
[[ ${generated} -gt 0 ]] || { echo "FAILED: make_corpus wrote nothing"; exit 1; }
echo "${generated} generated seeds checked"
exit "${failed}"
