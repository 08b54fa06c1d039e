import pathlib

import pytest
import torch
from hypothesis import settings

import torch_ext  # noqa: F401  (registers the ops)

# Hypothesis runs the same examples on every run (derandomize), keeps none between runs and has
# no per-example deadline, so CI neither flakes nor slows down. --hypothesis-profile=default
# explores anew.
settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None)
settings.load_profile("ci")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def num_threads():
    """Restores torch's thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


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
