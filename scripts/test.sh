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
