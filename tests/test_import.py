"""torch_ext imports on its own, in a fresh interpreter that has not imported torch."""

import subprocess
import sys


def test_import_torch_ext_alone(tmp_path):
    code = "import torch_ext, torch; print(torch.ops.torch_ext.cpu_path())"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ("scalar", "avx2", "avx512")
