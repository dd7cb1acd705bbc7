#!/usr/bin/env bash
# Makes Gradescope's autograder zip: the reference tree (without build
# output or version control) with setup.sh and run_autograder at the zip's
# root, as Gradescope's documentation asks.
#
#   grading/deploy/gradescope/make-autograder.sh [OUT.zip]   (default: autograder.zip)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=${1:-autograder.zip}
case $out in
  /*) ;;
  *) out="$PWD/$out" ;;
esac
command -v zip > /dev/null || { echo "make-autograder.sh: needs zip (apt-get install zip)" >&2; exit 1; }
[ -f "$root/tests/harness/lib.rs" ] || { echo "make-autograder.sh: $root is not the reference tree" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tar -C "$root" --exclude='./target*' --exclude='./.git' -cf - . | tar -C "$stage" -xf -
install -m 755 "$here/setup.sh" "$stage/setup.sh"
install -m 755 "$here/run_autograder" "$stage/run_autograder"
rm -f "$out"
(cd "$stage" && zip -q -r -X "$out" .)
echo "$out"
