"""Every CUDA C source of fast/ compiles for Hopper (`nvcc -arch=sm_90 -ptx`), checked on
any machine where nvcc is installed, GPU or not; skipped where nvcc is absent. CuPy
compiles the same sources with NVRTC at run time, which needs a device, so this is the
check that catches a broken kernel before a GPU ever sees it."""

import pathlib
import re
import shutil
import subprocess

import pytest

FAST = pathlib.Path(__file__).resolve().parent.parent / "fast"
SOURCES = sorted(FAST.glob("*.cu"))
KERNEL = re.compile(r'extern "C" __global__ void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(')


def test_every_gpu_module_has_its_source():
    assert [s.name for s in SOURCES] == ["data.cu", "loss.cu", "mlp.cu", "noise.cu", "optim.cu"]


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
