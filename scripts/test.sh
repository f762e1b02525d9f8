#!/usr/bin/env bash
# Set-up, build, then the whole test suite (needs ../shared/testdata beside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh -DCLLAMA_WERROR=ON
# What only the tests use: jinja2 (chat templates against Python's renderer), the
# openai client (the server's API), a browser and Selenium (the chat page), an SVG
# renderer (the charts).
. scripts/lib.sh
install_missing python3-jinja2 chromium chromium-driver python3-selenium ||
    echo "test: could not install the browser; the page test will be skipped" >&2
install_missing librsvg2-bin || echo "test: could not install rsvg-convert; the chart tests will be skipped" >&2
python3 -c "import openai" 2>/dev/null || python3 -m pip install -q openai 2>/dev/null ||
    python3 -m pip install -q --break-system-packages openai ||
    echo "test: openai not installed; the server API test will be skipped" >&2
cd build
ctest --output-on-failure -j"$(nproc)"
# The model-level tests once more with each other kernel set this CPU runs (the whole
# suite ran with the best one; test_kernels checked every set against the scalar one).
sets=$(./cllama --version | sed -n 's/.*kernels: \([^)]*\)).*/\1/p')
for isa in ${sets#* }; do
    echo "== golden, batch, tokenizer and hostile-input tests with CLLAMA_ISA=$isa"
    CLLAMA_ISA=$isa ctest -R "^(golden_|test_batch|test_tokenizer$|hostile_gguf$|bad_models$)" --output-on-failure \
        -j"$(nproc)"
done
