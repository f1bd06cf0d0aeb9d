#!/usr/bin/env bash
# Fails when a function outside tests/ is longer than 80 lines, as Universal
# Ctags sees the sources of plugin/, hooks/, adaptive/ and examples/.
#   tests/support/check_function_length.sh SOURCE_DIR
set -euo pipefail
root=${1:?usage: check_function_length.sh SOURCE_DIR}
limit=80
if ! ctags --version 2>/dev/null | grep -q Universal; then
  echo "check_function_length: needs Universal Ctags (third_party/install.sh installs universal-ctags)" >&2
  exit 1
fi
cd "$root"
found=$(ctags -R --languages=C++ --kinds-C++=f --fields=+ne -x \
          --_xformat='%{input}:%{line}:%{end} %N' plugin hooks adaptive examples)
[ -n "$found" ] || { echo "check_function_length: ctags listed no function" >&2; exit 1; }
long=$(awk -F'[: ]' -v limit="$limit" '{ n = $3 - $2 + 1; if (n > limit) print $1 ":" $2 " " $4 " (" n " lines)" }' <<<"$found")
if [ -n "$long" ]; then
  echo "functions longer than $limit lines outside tests/:"
  echo "$long"
  exit 1
fi
echo "$(wc -l <<<"$found") functions outside tests/, none longer than $limit lines"
