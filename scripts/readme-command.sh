#!/usr/bin/env bash
# Run README command N (1: set up + main job, 2: tests) exactly as the README writes it.
# The command is the fenced block that follows the marker `<!-- readme-command-N -->`,
# so CI can never drift from what a newcomer copies.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: readme-command.sh 1|2}
cmd=$(awk -v m="<!-- readme-command-$n -->" '
  $0 == m {found=1; next}
  found && /^```/ {if (inblock) exit; inblock=1; next}
  found && inblock {print}
' README.md)
[ -n "$cmd" ] || { echo "README has no command $n" >&2; exit 2; }
echo "+ $cmd"
bash -euo pipefail -c "$cmd"
