"""The commands tests/support/actions_runner.py puts on a runner's PATH in place of real ones:
scripts written out with the interpreter and log path filled in (`str.format`)."""

# A recorder for any other command (release-pipeline, colima, docker): logs its name and argv.
# As `release-pipeline pin` it also rewrites `image: IMAGE:TAG` lines to `image: IMAGE@DIGEST`
# the simple way, so a workflow has an edit to propose (the real pin: tests/test_pin*.py).
RECORD_TOOL = """#!{python}
import json, os, pathlib, re, sys
with open({log!r}, "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if os.path.basename(sys.argv[0]) == "release-pipeline" and sys.argv[1:2] == ["pin"]:
    flags = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    line = re.compile(r"(image: )" + re.escape(flags["--image"]) + r"[:@]\\S+")
    for path in pathlib.Path(flags["--manifests"]).rglob("*.yaml"):
        text = path.read_text()
        path.write_text(line.sub(r"\\g<1>" + flags["--image"] + "@" + flags["--digest"], text))
"""
# `gh`: records; `pr list` finds no pull request, `pr create` prints the new one's URL.
GH_TOOL = """#!{python}
import json, sys
with open({log!r}, "a") as f:
    f.write(json.dumps(["gh", *sys.argv[1:]]) + "\\n")
if sys.argv[1:3] == ["pr", "create"]:
    repo = sys.argv[sys.argv.index("--repo") + 1]
    print("https://github.com/" + repo + "/pull/1")
"""
REAL_TOOL = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
os.environ["PYTHONPATH"] = {src!r}
os.execv(sys.executable, [sys.executable, "-m", "release_pipeline", *sys.argv[1:]])
"""
