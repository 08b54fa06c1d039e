import os
import pathlib
import shutil
import subprocess

# Inductor compiles in this process, with no pool of compile workers: torch 2.11's (the GPU
# machine's) hung at exit in 3 of 6 runs of tests/test_compile_export.py with
# tests/test_cuda.py, for 300 s each time, past the tests stage's limit in tools/gpu_session.sh.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

import torch_ext  # noqa: F401,E402  (registers the ops)

# Hypothesis runs the same examples on every run (derandomize), keeps none between runs and has
# no per-example deadline, so CI neither flakes nor slows down. --hypothesis-profile=default
# explores anew.
settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None)
settings.load_profile("ci")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def pytest_addoption(parser):
    parser.addoption("--cuda-only", action="store_true",
                     help="run only the tests that need a CUDA device: a lent GPU machine's "
                          "minutes go to what CI, which has no GPU, cannot run")


def needs_cuda(item):
    """A test that requires_cuda marks (itself, its module or its parameter) or that runs on
    the device fixture's "cuda"."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("device") == "cuda":
        return True
    return any(mark == requires_cuda.mark for mark in item.iter_markers("skipif"))


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--cuda-only"):
        return
    kept = [item for item in items if needs_cuda(item)]
    config.hook.pytest_deselected(items=[item for item in items if not needs_cuda(item)])
    items[:] = kept


def saved_tensors(forward):
    """forward()'s result, and the tensors it saves for the backward as autograd's pack hook
    sees them."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = forward()
    return out, saved


def seeded_randn(device, dtype, seed=0):
    """randn(*shape) on the device in the dtype, the same values for the same seed: made there
    rather than moved with x.to(), which would copy a sliced, expanded or offset view into a
    contiguous tensor."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=device,
                                                                         dtype=dtype)

    return randn


def off_alignment(x):
    """x's values in a CPU tensor whose data pointer is one byte past its element's alignment,
    which torch.frombuffer allows."""
    buf = bytearray(x.numel() * x.element_size() + 1)
    y = torch.frombuffer(buf, dtype=x.dtype, offset=1, count=x.numel()).view(x.shape)
    assert y.data_ptr() % x.element_size() != 0
    return y.copy_(x)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def num_threads():
    """Restores torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


requires_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("make") is None,
                                   reason="no nvcc or make")


def curand_include():
    """The folder of curand_kernel.h: the toolkit's include folder, else the nvidia-curand
    wheel's that CUDA builds of torch depend on; None if neither has it."""
    from torch.utils.cpp_extension import CUDA_HOME

    candidates = [pathlib.Path(CUDA_HOME or "/usr/local/cuda") / "include"]
    try:
        import nvidia

        candidates += [h.parent for root in nvidia.__path__
                       for h in pathlib.Path(root).glob("**/curand_kernel.h")]
    except ImportError:
        pass
    return next((str(c) for c in candidates if (c / "curand_kernel.h").exists()), None)


def make_cuda(out, *args, curand=False):
    """Runs tests/cuda/Makefile with ARGS and OUT=out, and asserts it succeeded; with curand,
    tells it where curand_kernel.h is, or skips the test where it is nowhere."""
    if curand:
        include = curand_include()
        if include is None:
            pytest.skip("no curand_kernel.h")
        args += (f"CURAND_INCLUDE={include}",)
    folder = pathlib.Path(__file__).resolve().parent / "cuda"
    result = subprocess.run(["make", "-s", "-C", str(folder), f"OUT={out}", *args],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result
