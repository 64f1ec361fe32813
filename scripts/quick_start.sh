#!/usr/bin/env bash
# The README's quick start, word for word, in a fresh clone of this repository's HEAD (issue 19: "the README's
# quick start still works word for word"): the sh line after <!-- demo-command --> (a venv, pip install -e
# '.[sandbox]', amishare demo), run as a newcomer runs it. Needs PyPI (or the machine's package index); takes a
# few minutes, so it is not part of the test suite. Exit code: the quick start's.
set -euo pipefail
cd "$(dirname "$0")/.."
command=$(awk -v marker="<!-- demo-command -->" '
  $0 == marker { armed = 1; next }
  armed && /^```/ { if (inside) exit; inside = 1; next }
  armed && inside { print; exit }
' README.md)
if [ -z "$command" ]; then
  echo "quick start: no demo command found in README.md" >&2
  exit 1
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git clone -q . "$scratch/amishare"
cd "$scratch/amishare"
echo "quick start: $command"
started=$(date +%s)
env -u VIRTUAL_ENV -u PYTHONPATH bash -c "set -e; $command"
echo "quick start: passed in $(( $(date +%s) - started )) s"
