"""tools/make_venv.sh: where python3 already has torch, .venv sees python3's packages, also when
python3 is itself a venv, as on the lent GPU machine (/opt/torch/.venv)."""

import os
import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _purelib(python):
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([python, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_venv_sees_the_packages_of_a_python3_that_is_a_venv(tmp_path):
    outer = tmp_path / "outer"
    venv.create(outer, with_pip=False)
    outer_lib = pathlib.Path(_purelib(outer / "bin" / "python"))
    # Stand-ins for torch and pip, and a package reached through a .pth file of python3's.
    (outer_lib / "torch").mkdir()
    (outer_lib / "torch" / "__init__.py").write_text("")
    (outer_lib / "pip").mkdir()
    (outer_lib / "pip" / "__init__.py").write_text("")
    (outer_lib / "pip" / "__main__.py").write_text("print(__file__)")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "via_pth.py").write_text("")
    (outer_lib / "extra.pth").write_text(f"{tmp_path / 'extra'}\n")

    env = dict(os.environ, PATH=f"{outer / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("VIRTUAL_ENV", None)
    subprocess.run(["bash", str(ROOT / "tools" / "make_venv.sh"), str(tmp_path / "inner")],
                   check=True, env=env)

    inner = str(tmp_path / "inner" / "bin" / "python")
    pip = subprocess.run([inner, "-m", "pip", "--version"], check=True, capture_output=True,
                         text=True, cwd=tmp_path).stdout.strip()
    assert pip == str(outer_lib / "pip" / "__main__.py")
    code = ("import sys, torch, via_pth; print(torch.__file__); "
            "print(sys.path.index(sys.argv[1]) < sys.path.index(sys.argv[2]))")
    out = subprocess.run([inner, "-c", code, _purelib(inner), str(outer_lib)], check=True,
                         capture_output=True, text=True, cwd=tmp_path).stdout.split()
    assert out == [str(outer_lib / "torch" / "__init__.py"), "True"]
