#!/usr/bin/env bash
# Check (--check) or apply the house format (.clang-format) to every C file
# that git tracks.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -- '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
[ ${#files[@]} -gt 0 ] || { echo "format: no C files"; exit 0; }
if [ "${1:-}" = "--check" ]; then
	if ! clang-format --dry-run --Werror "${files[@]}"; then
		echo "format: the files above differ from .clang-format; run 'make format'" >&2
		exit 1
	fi
	echo "format: ${#files[@]} files match .clang-format"
else
	clang-format -i "${files[@]}"
fi
