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
