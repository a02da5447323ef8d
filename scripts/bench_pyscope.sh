#!/usr/bin/env bash
# Figures for pyscope (examples/pyscope), a table per corpus: files analyzed, the cold pass's
# wall and CPU time (on all cores), peak RSS (the kernel's high-water mark, MiB), and the
# median CPU time of the update after each kind of edit (every file's diagnostics brought up to
# date on one thread, no event observer, no --check):
#   leaf    a body edit in a function of json/tool.py (a module nothing much imports)
#   wide    a body edit in os.walk (os is imported nearly everywhere)
#   import  `import MODULE` appended to json/tool.py (a module that exists, or one that does not)
#   rename  json/scanner.py renamed and back (json.decoder imports it)
# Each kind runs 5 times (rename 4); the update's CPU is the process's.
#
#   bash scripts/bench_pyscope.sh            Debian's standard library, then the big corpus
#   bash scripts/bench_pyscope.sh stdlib     /usr/lib/python3.11 only
#   bash scripts/bench_pyscope.sh big        the pyenv tree with its site-packages only
#
# The big corpus is ~/.pyenv/versions/3.11.*/lib/python3.11 with --site-packages (its stdlib,
# tests and third-party packages: ~11,600 files; a few minutes). JOBS sets the build's -j;
# PYSCOPE=path/to/pyscope uses that binary instead of building build/example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

which="${1:-all}"
pyscope="${PYSCOPE:-}"  # a pyscope binary to use instead of building one
if [[ -z "$pyscope" ]]; then
  cmake -S . -B build/example -DCMAKE_BUILD_TYPE=Release \
    -DRELISH_BUILD_TESTS=OFF -DRELISH_BUILD_EXAMPLES=ON -DRELISH_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build/example -j"${JOBS:-$(nproc)}" --target pyscope >/dev/null
  pyscope=build/example/examples/pyscope/pyscope
fi

script="$(mktemp)"
trap 'rm -f "$script" "$script.out"' EXIT
{
  for v in local undefined local pass local; do echo "leaf: body json/tool.py main $v"; done
  for v in local undefined local pass local; do echo "wide: body os.py walk $v"; done
  for m in re no_such_module_1 collections no_such_module_2 argparse; do
    echo "import: import json/tool.py $m"
  done
  for _ in 1 2; do
    echo "rename: rename json/scanner.py scanner_v2"
    echo "rename: rename json/scanner_v2.py scanner"
  done
} >"$script"

rows=()
run() {  # NAME DIR [ARGS...]
  local name="$1" dir="$2"
  shift 2
  echo "running pyscope on $dir $* ..." >&2
  "$pyscope" "$dir" --script "$script" "$@" >"$script.out"
  local bench
  bench="$(grep '^bench:' "$script.out")"
  field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$bench"; }
  median() { awk -v tag="$1" '$1 == tag && NF >= 7 { print $3 }' "$script.out"; }
  rows+=("$(printf '| %-14s | %6s | %12.0f | %11.0f | %12.1f | %6s | %6s | %6s | %6s |' \
    "$name" "$(field files)" "$(field cold_wall_ms)" "$(field cold_cpu_ms)" \
    "$(field peak_rss_mib)" "$(median leaf)" "$(median wide)" "$(median import)" \
    "$(median rename)")")
}

if [[ "$which" == all || "$which" == stdlib ]]; then
  run "Debian stdlib" /usr/lib/python3.11
fi
if [[ "$which" == all || "$which" == big ]]; then
  big="$(ls -d "$HOME"/.pyenv/versions/3.11.*/lib/python3.11 2>/dev/null | sort -V | tail -1)"
  if [[ -n "$big" ]]; then
    run "pyenv + site-p" "$big" --site-packages
  else
    echo "no ~/.pyenv/versions/3.11.*: the big corpus is skipped" >&2
  fi
fi

echo
echo "load: $(uptime | sed 's/.*load average/load average/'), $(nproc) cores; cold pass on $(nproc) threads, edits on 1"
echo "(per-edit columns: median CPU ms of the update after the edit)"
echo "| corpus         |  files | cold wall ms | cold CPU ms | peak RSS MiB |   leaf |   wide | import | rename |"
echo "|----------------|--------|--------------|-------------|--------------|--------|--------|--------|--------|"
printf '%s\n' "${rows[@]}"
