"""Shared by the benchmark scripts: the machine description, timed fits, tables, plots."""

import gzip
import math
import os
import platform
import struct
import time
import warnings
from importlib import metadata

import numpy as np
from threadpoolctl import threadpool_info


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def cpu_model():
    """The CPU's model name: /proc/cpuinfo on Linux, where platform.processor() is empty."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(packages):
    """Platform, CPUs, versions of ``packages`` and the BLAS/OpenMP thread pools."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "python": platform.python_version(),
        "packages": versions,
        "threadpools": [{key: info.get(key) for key in
                         ("user_api", "internal_api", "prefix", "num_threads", "version",
                          "architecture", "filepath")}
                        for info in threadpool_info()],
    }


def timed(fit):
    """Run ``fit()``; return its seconds and the ConvergenceWarning messages it raised.

    Any other warning is shown as Python would have shown it.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit()
        seconds = time.perf_counter() - start
    notes = []
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            notes.append(" ".join(str(warning.message).split()))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return seconds, notes


def render_table(header, lines):
    """Aligned text table: the first column left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def render(cells):
        return "  ".join([cells[0].ljust(widths[0]),
                          *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def read_idx(path):
    """An idx file (gzipped when its name ends in .gz) as a uint8 array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        zero, dtype_code, ndim = struct.unpack(">HBB", stream.read(4))
        if zero != 0 or dtype_code != 0x08:
            raise ValueError(f"{path} is not an idx file of unsigned bytes (magic "
                             f"{zero:#06x} {dtype_code:#04x}).")
        shape = struct.unpack(f">{ndim}I", stream.read(4 * ndim))
        data = np.frombuffer(stream.read(), dtype=np.uint8)
    if data.size != math.prod(shape):
        raise ValueError(f"{path} holds {data.size} bytes of data; its header says "
                         f"{shape}.")
    return data.reshape(shape)


def save_figure(plt, fig, path):
    """Lay out ``fig``, write it to ``path`` (creating its folder) and close it."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def pyplot():
    """matplotlib.pyplot drawing to files only, or exit with what to install."""
    try:
        import matplotlib
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib ({exc}); install it with "
                         "`pip install -e \".[bench]\"`.") from None
    matplotlib.use("Agg")  # files only; never open a window
    import matplotlib.pyplot as plt

    return plt
