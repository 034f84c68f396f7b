//===- SanitizerDefaults.cpp - Options every sanitized stc binary runs with ===//
//
// Added to every executable of a sanitizer build (STC_SANITIZE=ON).
//
// LLVM's headers poison the unused tail of an allocator slab when the code
// including them is built with ASan; the distribution's libLLVM and libMLIR
// are not, so a slab our code poisoned is handed out by theirs and ASan
// reports a use-after-poison that is not one. allow_user_poisoning=0 ignores
// such manual poisoning only: ASan's own redzones and checks stay.
//
//===----------------------------------------------------------------------===//

extern "C" const char *__asan_default_options() {
  return "allow_user_poisoning=0";
}

extern "C" const char *__ubsan_default_options() {
  return "print_stacktrace=1";
}
