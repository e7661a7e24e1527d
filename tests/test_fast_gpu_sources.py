"""Every CUDA C source of fast/ compiles for Hopper, checked on any machine, GPU or not:
with `nvcc -arch=sm_90 -ptx` where nvcc is installed, and through NVRTC with the options
fast.device.cuda_module gives it (what CuPy does at run time) where CuPy finds the NVRTC
library; each check is skipped where its compiler is absent. Either one catches a broken
kernel before a GPU ever sees it."""

import pathlib
import re
import shutil
import subprocess

import pytest

FAST = pathlib.Path(__file__).resolve().parent.parent / "fast"
SOURCES = sorted(FAST.glob("*.cu"))
KERNEL = re.compile(r'extern "C" __global__ void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(')


def test_every_gpu_module_has_its_source():
    assert [s.name for s in SOURCES] == [
        "data.cu",
        "loss.cu",
        "mlp.cu",
        "noise.cu",
        "optim.cu",
        "philox.cu",
    ]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_cuda_source_compiles_for_sm_90(source, tmp_path):
    result = subprocess.run(
        ["nvcc", "-arch=sm_90", "-ptx", f"-I{FAST}", str(source), "-o", str(tmp_path / "out.ptx")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    # Each extern "C" kernel is an entry point CuPy's RawModule finds by name.
    kernels = set(KERNEL.findall(source.read_text()))
    ptx = (tmp_path / "out.ptx").read_text()
    assert kernels and all(f".entry {kernel}(" in ptx for kernel in kernels)


def nvrtc_or_none():
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
        return nvrtc
    except Exception:  # no CuPy, or no NVRTC library for it to load
        return None


@pytest.mark.skipif(nvrtc_or_none() is None, reason="CuPy's NVRTC is not available")
@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_cuda_source_compiles_through_nvrtc_as_at_run_time(source):
    nvrtc = nvrtc_or_none()
    program = nvrtc.createProgram(source.read_text(), source.name, [], [])
    options = [f"--include-path={FAST}", "--gpu-architecture=compute_90"]
    try:
        nvrtc.compileProgram(program, options)
    except Exception as error:
        pytest.fail(f"{source.name}: {error}\n{nvrtc.getProgramLog(program)}")
    ptx = nvrtc.getPTX(program).decode()
    kernels = set(KERNEL.findall(source.read_text()))
    assert kernels and all(f".entry {kernel}(" in ptx for kernel in kernels)
