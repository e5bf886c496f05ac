"""Small C programs that tests build against the queue library.

Some tests read or fill the queue below what sealctl offers (raw bodies,
DSN parameters); they compile a few lines of C against the same libqueue.a
and libcommon.a as the binaries under test, once per test process.
"""
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import BIN, REPO

_built = {}


def _libdir():
    """The build directory of the binaries under test (bin/ or BUILD/bin)."""
    for d in (BIN.parent, BIN.parent / "build", REPO / "build", BIN):
        if (d / "libqueue.a").exists() and (d / "libcommon.a").exists():
            return d
    raise AssertionError(f"libqueue.a not found near {BIN}")


def build(name, source):
    """Compile source as program name (cached per process); returns its path."""
    if name in _built and Path(_built[name]).exists():
        return _built[name]
    d = Path(tempfile.mkdtemp(prefix=name + "."))
    src, exe = d / (name + ".c"), d / name
    src.write_text(source)
    lib = _libdir()
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "lmdb", "libconfig", "libuv"],
                           capture_output=True, text=True, check=True).stdout.split()
    # The sanitizer build is made with clang: link with its runtime too.
    san = ["-fsanitize=address,undefined"] if "asan" in str(lib) else []
    cc = "clang" if san and shutil.which("clang") else "cc"
    r = subprocess.run([cc, "-std=gnu11", "-D_GNU_SOURCE", "-I", str(REPO), "-o", str(exe),
                        str(src), str(lib / "libqueue.a"), str(lib / "libcommon.a")] + flags
                       + san + ["-lpthread"], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{name} build failed:\n{r.stderr}")
    _built[name] = str(exe)
    return _built[name]
