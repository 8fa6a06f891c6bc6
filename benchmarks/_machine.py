"""What every benchmark records about the machine it ran on."""

import os
import platform
from importlib import metadata

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
