#!/usr/bin/env bash
# A RUSTC_WRAPPER that builds some crates WITHOUT libFuzzer's coverage instrumentation (everything else as
# cargo-fuzz asks). Default: the regex engine and its helpers, whose compilers run for every input of
# `rewrite_rules` and `config_parsers`; set FUZZ_UNINSTRUMENTED to a space-separated list of crate names to change it.
# Trade-off: speed (rewrite_rules ≈ 5× per CPU second) against guidance: the fuzzer no longer sees coverage inside
# those crates (rewrite_rules keeps ≈ 1/4 of the corpus it keeps otherwise). The checks are the same.
# Use a target dir of its own, so instrumented and uninstrumented artifacts never mix:
#   cd fuzz && RUSTC_WRAPPER=$PWD/rustc-uninstrumented.sh CARGO_TARGET_DIR=$PWD/target/uninstrumented \
#     cargo fuzz build --sanitizer none TARGET
set -euo pipefail
rustc=$1
shift
crates=" ${FUZZ_UNINSTRUMENTED:-regex regex_automata regex_syntax aho_corasick memchr} "
name=
prev=
for a in "$@"; do
  [ "$prev" = "--crate-name" ] && name=$a
  prev=$a
done
if [ -z "$name" ] || [[ "$crates" != *" $name "* ]]; then
  exec "$rustc" "$@"
fi
args=()
for a in "$@"; do
  case "$a" in
    -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage*) ;;
    *) args+=("$a") ;;
  esac
done
exec "$rustc" "${args[@]}"
