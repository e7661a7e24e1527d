#!/usr/bin/env bash
# The one prepared GPU run: device and versions, a compile smoke test of every CUDA source,
# the GPU tests, then the benchmark. Run from the repository root with $OUT set:
#
#     bash bench/run_gpu.sh
#
# Everything is written to $OUT/gpu_log.txt (and the console); the benchmark's rows to
# $OUT/bench_gpu.json, the tests' report to $OUT/gpu_tests.xml. Each part has its own time
# limit and a failure in one never stops the next: the benchmark runs even if tests fail.
# Budget: under 6 minutes in practice (each part has its own limit). No network is needed.
set -u
cd "$(dirname "$0")/.." || exit 2
OUT="${OUT:-bench/results/out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
# Keep the run's caches off the repository and the JIT from dominating the clock.
export NUMBA_CACHE_DIR="${TMPDIR:-/tmp}/numba-cache"

part() { echo; echo "===== $1 ($(date -u +%H:%M:%S))"; }

{
  part "device"
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total,power.limit --format=csv
  part "versions"
  "$PY" - <<'PY'
import platform, sys
print("python", sys.version.split()[0], platform.machine())
for name in ("numpy", "numba", "cupy", "torch", "hypothesis", "pytest", "scipy"):
    try:
        module = __import__(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as error:
        print(name, "unavailable:", repr(error))
try:
    import cupy
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    print("cuda runtime", runtime.runtimeGetVersion(), "driver", runtime.driverGetVersion(),
          "device", props["name"], "sm", f"{props['major']}.{props['minor']}",
          "SMs", props["multiProcessorCount"], "clock kHz", props.get("clockRate"))
except Exception as error:
    print("cupy runtime query failed:", repr(error))
PY
  nvcc --version | tail -n 2

  part "smoke: NVRTC compiles every fast/*.cu, Philox known answer on the GPU"
  timeout 120 "$PY" - <<'PY'
import re, pathlib, numpy as np
from fast import device, philox
print("gpu_available:", device.gpu_available(), "resolve(auto):", device.resolve("auto"))
for source in sorted(pathlib.Path("fast").glob("*.cu")):
    names = re.findall(r'extern "C" __global__ void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(', source.read_text())
    try:
        for name in names:
            device.cuda_kernel(source.name, name)
        print("compiled", source.name, names)
    except Exception as error:
        print("FAILED to compile", source.name, repr(error))
words = device.to_host(philox.philox4x32(device.to_device(np.zeros((1, 4), np.uint32), "gpu"), np.zeros(2, np.uint32)))
print("philox(0, 0) =", [hex(w) for w in words[0]], "expected 0x6627e8d5 0xe169c58d 0xbc57ac4c 0x9b00dbd8")
PY
  echo "smoke exit: $?"

  part "tests: nvcc -ptx of every source, then every test marked gpu"
  timeout 60 "$PY" -m pytest tests/test_fast_gpu_sources.py -q -p no:cacheprovider
  echo "sources exit: $?"
  timeout 240 "$PY" -m pytest -m gpu -q -p no:cacheprovider --durations=15 \
    --junitxml="$OUT/gpu_tests.xml"
  echo "gpu tests exit: $?"

  part "benchmark: python -m bench --device gpu --json $OUT/bench_gpu.json"
  timeout 240 "$PY" -m bench --device gpu --json "$OUT/bench_gpu.json"
  echo "bench exit: $?"
  part "run.py on the GPU: the default run, then 1024 GANs at once: sigma0 in {0, 0.05, 0.1, 0.2} x 256 seeds"
  timeout 120 "$PY" run.py --sigma0 0.1 --device gpu --out "$OUT/run-gpu" 2> >(tr '\r' '\n' | tail -n 2)
  echo "run exit: $?"
  sigma0s=$("$PY" -c "print(','.join(('0', '0.05', '0.1', '0.2')[p // 256] for p in range(1024)))")
  timeout 300 "$PY" run.py --device gpu --population 1024 --sigma0 "$sigma0s" \
    --out "${TMPDIR:-/tmp}/sweep-gpu" 2> >(tr '\r' '\n' | tail -n 2)
  echo "sweep exit: $?"
  part "done"
} 2>&1 | tee "$OUT/gpu_log.txt"
