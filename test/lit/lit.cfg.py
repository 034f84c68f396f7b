# -*- Python -*-
# The stc lit suite: FileCheck tests of the dialect, the passes and the CLI.

import os

import lit.formats
from lit.llvm import llvm_config

config.name = "stc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.stc_obj_root, "test", "lit")

config.substitutions.append(("%examples", os.path.join(config.stc_src_root, "examples")))
config.substitutions.append(("%inputs", os.path.join(config.stc_src_root, "test", "inputs")))
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tool_dirs = [config.stc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["stc-opt", "stc"], tool_dirs)

# No command in the suite may end in the top-level handler's "internal
# error" (runtime/support/Crash.h): every FileCheck run rejects it.
config.environment["FILECHECK_OPTS"] = '--implicit-check-not="internal error"'
