#!/usr/bin/env bash
# The CUDA kernels' machine code read without a GPU: for each kernel of cuda/mydropout.cu
# built for one architecture, its instructions (NOPs left out), the IMADs among them (the
# integer multiply pipe, which Philox's 32x32-bit products load most), registers, stack frame,
# and the global loads and stores by width. A count, not a timing: what a change adds to or takes
# from the arithmetic that has to hide under the memory traffic.
#
#   bash tools/sass_stats.sh [sm_90]
#
# Needs nvcc, c++filt, and cuobjdump and nvdisasm on PATH: a GPU machine's toolkit has them;
# elsewhere the PyPI wheels nvidia-cuda-cuobjdump and nvidia-cuda-nvdisasm hold them under
# nvidia/cu13/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:-sm_90}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nvcc -std=c++17 -O3 -arch="$arch" -Icsrc -Icuda --resource-usage -c cuda/mydropout.cu \
  -o "$tmp/k.o" 2>"$tmp/ptxas.txt"
# ptxas: "Compiling entry function 'NAME'", then the stack line, then "Used N registers".
awk -F"'" '/Compiling entry function/ {name = $2}
  /bytes stack frame/ {stack[name] = $1 + 0}
  /Used [0-9]+ registers/ {
    match($0, /Used [0-9]+/); regs[name] = substr($0, RSTART + 5, RLENGTH - 5)}
  END {for (n in regs) print n, regs[n], stack[n]}' "$tmp/ptxas.txt" | sort >"$tmp/res.txt"
cuobjdump -sass "$tmp/k.o" | awk '
  /Function :/ {name = $3; names[name] = 1}
  /\/\*[0-9a-f][0-9a-f][0-9a-f][0-9a-f]\*\// && !/ NOP/ {count[name]++}
  /\/\*[0-9a-f][0-9a-f][0-9a-f][0-9a-f]\*\/ +(@!?U?P[0-9T] +)?IMAD/ {imad[name]++}
  match($0, /(LDG|STG|LDL|STL)(\.[A-Z0-9]+)*/) {
    mem[name] = mem[name] " " substr($0, RSTART, RLENGTH)}
  END {for (n in names) print n, count[n], imad[n] + 0, mem[n]}' | sort >"$tmp/sass.txt"

printf '%-6s %5s %5s %6s  %-58s %s\n' instr imad regs stack kernel "global loads and stores"
join "$tmp/sass.txt" "$tmp/res.txt" | while read -r name count imad rest; do
  set -- $rest
  stack=${!#}
  regs=${*: -2:1}
  mem=$(printf '%s\n' "${@:1:$#-2}" | sort | uniq -c | awk '{printf "%s %sx ", $2, $1}')
  kernel=$(c++filt "$name" |
    sed -E 's/\(anonymous namespace\):: *//; s/mydropout_gpu:://g; s/\(.*//')
  printf '%-6s %5s %5s %6s  %-58s %s\n' "$count" "$imad" "$regs" "$stack" "${kernel:0:58}" "$mem"
done
