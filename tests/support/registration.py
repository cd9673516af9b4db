"""What the module registers with the engine: the functions, arguments and objects `dagger call`
and `dag.release_pipeline()` see.

Registration runs in a subprocess with the SDK's own typedef builder and the one engine call it
makes (`Module.id`) stubbed out, so no engine is needed. The captured query is walked into plain
data: for each function (the constructor is "") its cache policy, its arguments (doc, required)
and the object it returns; for each object, its fields and their descriptions.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
from typing import Any

_SCRIPT = textwrap.dedent("""
    import asyncio, json, os
    os.environ["DAGGER_MAIN_OBJECT"] = "ReleasePipeline"
    from dagger.client import gen

    captured = []

    async def fake_id(self):  # the one engine call registration makes
        captured.append(self)
        return "ModuleID:offline"

    gen.Module.id = fake_id
    from release_pipeline.dagger.main import ReleasePipeline

    asyncio.run(ReleasePipeline.__dagger_module__._typedefs())

    def selections(node):
        for sel in node._ctx.selections:
            plain = {k: v for k, v in sel.args.items() if not hasattr(v, "_ctx")}
            nested = {k: v for k, v in sel.args.items() if hasattr(v, "_ctx")}
            yield sel.name, plain, nested

    def type_info(node):
        # The object a typedef names (None for scalars/lists) and whether it is optional.
        obj, optional = None, False
        for name, plain, _ in selections(node):
            if name == "withObject":
                obj = plain.get("name")
            elif name == "withOptional":
                optional = bool(plain.get("optional"))
        return obj, optional

    functions, objects = {}, {}

    def walk_function(node):
        fn = None
        for name, plain, nested in selections(node):
            if name == "function":
                fn = functions.setdefault(
                    plain["name"],
                    {"cache": None, "args": {}, "required": [], "returns": None, "ignore": {}},
                )
                if "returnType" in nested:
                    fn["returns"] = type_info(nested["returnType"])[0]
            elif name == "withCachePolicy":
                fn["cache"] = plain["policy"]
            elif name == "withArg":
                arg = plain["name"]
                fn["args"][arg] = plain["description"]
                if plain.get("ignore"):
                    fn["ignore"][arg] = plain["ignore"]
                _, optional = type_info(nested["typeDef"])
                has_default = plain.get("defaultValue") is not None or bool(
                    plain.get("defaultPath")
                )
                if not optional and not has_default:
                    fn["required"].append(arg)

    def walk_object(node):
        current = None
        for name, plain, nested in selections(node):
            if name == "withObject" and "name" in plain:
                current = objects.setdefault(plain["name"], {})
            elif name == "withField" and current is not None:
                current[plain["name"]] = plain.get("description") or ""
            elif name in ("withFunction", "withConstructor"):
                walk_function(nested["function"])

    for name, plain, nested in selections(captured[0]):
        if name == "withObject":
            walk_object(nested["object"])
    print(json.dumps({"functions": functions, "objects": objects}))
""")


@functools.cache
def registration() -> dict[str, Any]:
    """{"functions": {name: {cache, args: {arg: doc}, required: [arg], returns,
    ignore: {arg: [pattern]}}},
    "objects": {name: {field: description}}}, names in Python spelling (snake_case)."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError("module registration failed:\n" + done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout)
    return result
