# Sourced by ci/actionlint and ci/zizmor: the Python environment that installed
# ci/requirements-lint.txt, found through its interpreter rather than PATH: $PYTHON if set
# (the tests pass their own sys.executable), else the repository's .venv, else python3.
# shellcheck shell=bash
lint_python() {
    local root="$1"
    if [ -n "${PYTHON:-}" ]; then
        echo "$PYTHON"
    elif [ -x "$root/.venv/bin/python" ]; then
        echo "$root/.venv/bin/python"
    else
        echo python3
    fi
}
