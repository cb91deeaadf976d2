#!/usr/bin/env bash
# Mutation check of one or more modules against chosen tests, in a throw-away copy of the committed tree
# (mutmut rewrites the code it mutates; the checkout is never touched). Results: `cd DIR && mutmut results`.
#   scripts/mutation.sh DIR MODULES TESTS [PYTEST_K] [MUTANT_NAME_PATTERNS...]
#   scripts/mutation.sh /tmp/mut-router src/jindan/llm/router.py \
#     "tests/llm/test_router.py tests/llm/test_router_events.py tests/llm/test_router_wiring.py tests/llm/test_shadow.py
#      tests/llm/test_shutdown.py tests/api/test_llm_api.py tests/api/test_observability.py tests/llm/test_openai.py" \
#     "not embedded_model and not real_llama and not through_the_server"
set -euo pipefail
ws=$1 modules=$2 tests=$3 kexpr=${4:-}
shift $(( $# < 4 ? $# : 4 ))
repo="$(cd "$(dirname "$0")/.." && pwd)"
rm -rf "$ws" && mkdir -p "$ws"
git -C "$repo" archive HEAD src tests pyproject.toml | tar -x -C "$ws"
cd "$ws"
python3 - "$modules" "$tests" "$kexpr" <<'PY'
import json, pathlib, sys
modules, tests, kexpr = sys.argv[1].split(","), sys.argv[2].split(), sys.argv[3]
p = pathlib.Path("pyproject.toml")
others = sorted(str(x) for x in pathlib.Path("src").rglob("*.py") if str(x) not in modules)
selection = tests + (["-k", kexpr] if kexpr else [])
p.write_text(
    p.read_text()
    + "\n[tool.mutmut]\nsource_paths = [\"src/\"]\n"
    + f"do_not_mutate = {json.dumps(others)}\n"
    + f"pytest_add_cli_args_test_selection = {json.dumps(selection)}\n"
    + 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
)
PY
"$repo/.venv/bin/mutmut" run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
