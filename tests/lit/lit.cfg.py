# lit configuration for KRSIE. Tests are `.test` and `.krs` files with RUN: lines.
import os

import lit.formats

config.name = "KRSIE"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".krs"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.krsie_binary_dir, "tests", "lit")

bin_dirs = [
    os.path.join(config.krsie_binary_dir, "compiler"),
    os.path.join(config.krsie_binary_dir, "runtime"),
    config.llvm_tools_dir,  # FileCheck, not, count, llvm-objdump
    os.path.dirname(config.bpftool),
]
config.environment["PATH"] = os.pathsep.join(bin_dirs + [config.environment.get("PATH", os.environ["PATH"])])
# Diagnostics must not carry color codes into FileCheck.
config.environment["TERM"] = "dumb"

config.substitutions.append(("%templates", os.path.join(config.krsie_binary_dir, "bpf-templates", "bpf")))
config.substitutions.append(("%examples", os.path.join(config.krsie_source_dir, "examples")))

# Host features for krsie-load tests: `root`, `cgroup2` (a cgroup v2 hierarchy is mounted), and
# `no-bpf-lsm` (`krsie-load probe` says this kernel cannot enforce BPF-LSM policies: tests that
# expect that refusal never attach anything, and only run where the refusal is certain).
import subprocess

if os.geteuid() == 0:
    config.available_features.add("root")
try:
    with open("/proc/self/mountinfo") as mounts:
        if any(" - cgroup2 " in line for line in mounts):
            config.available_features.add("cgroup2")
except OSError:
    pass
_krsie_load = os.path.join(config.krsie_binary_dir, "runtime", "krsie-load")
if os.path.exists(_krsie_load):
    _probe = subprocess.run([_krsie_load, "probe", "-q"], capture_output=True, check=False)
    if _probe.returncode == 3:
        config.available_features.add("no-bpf-lsm")
