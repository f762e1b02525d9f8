#!/usr/bin/env bash
# The NEON kernels on an x86-64 machine: cross-builds everything for AArch64 (Debian's
# gcc-aarch64-linux-gnu and arm64 multiarch libraries) and runs the tests that are
# programs of ours under qemu-user:
#  - test_kernels on a CPU with the dot-product extension (qemu -cpu max: both NEON sets
#    checked against the scalar kernels, neon-dotprod chosen) and on a Cortex-A57
#    without it (the sdot set must decline, the plain set is chosen), and
#    test_kernel_choice on both (the hwcaps read as such, the matching set chosen);
#  - the golden-logit tests (1 and 2 threads), the batch and KV-cache tests, the tokenizer, hostile-GGUF and
#    bad-model tests, once with each NEON set.
# The tests that run the CLI through a shell or Python are left to the native build.
# Installs what it needs when missing (adds the arm64 architecture to dpkg).
# Usage: scripts/test-arm.sh [build dir, default build-arm]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-arm}
. scripts/lib.sh

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    if [ "$(id -u)" -eq 0 ]; then dpkg --add-architecture arm64; else sudo dpkg --add-architecture arm64; fi
fi
install_missing gcc-aarch64-linux-gnu qemu-user libpcre2-dev:arm64 libcjson-dev:arm64 libedit-dev:arm64 libmicrohttpd-dev:arm64

cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
    -DCLLAMA_MPI=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null

echo "== test_kernels, AArch64 with the dot-product extension (qemu -cpu max)"
QEMU_CPU=max qemu-aarch64 -L / "$out/tests/test_kernels" | tee "$out/kernels-max.log"
grep -q "kernel sets: generic neon neon-dotprod; cl_kernels_get() -> neon-dotprod" "$out/kernels-max.log"
echo "== test_kernels, Cortex-A57 (ARMv8.0, no sdot)"
QEMU_CPU=cortex-a57 qemu-aarch64 -L / "$out/tests/test_kernels" | tee "$out/kernels-a57.log"
grep -q "kernel sets: generic neon; cl_kernels_get() -> neon" "$out/kernels-a57.log"

echo "== test_kernel_choice (the chooser's table; the host check is skipped under qemu-user)"
QEMU_CPU=max qemu-aarch64 -L / "$out/tests/test_kernel_choice" | tee "$out/choice-max.log"
grep -q "^this CPU: aarch64 asimddp.* -> neon-dotprod" "$out/choice-max.log"
QEMU_CPU=cortex-a57 qemu-aarch64 -L / "$out/tests/test_kernel_choice" | tee "$out/choice-a57.log"
grep -q "^this CPU: aarch64 -> neon$" "$out/choice-a57.log"

tests="^(golden_|test_tokenizer$|hostile_gguf$|bad_models$)"
for isa in neon-dotprod neon; do
    echo "== golden, batch, tokenizer and hostile-input tests with CLLAMA_ISA=$isa"
    (cd "$out" && QEMU_CPU=max CLLAMA_ISA=$isa ctest -R "$tests" --output-on-failure -j"$(nproc)")
done
echo "test-arm: NEON builds and passes"
