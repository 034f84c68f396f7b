//===- StkVerifierTest.cpp - stk.launch checks an op kind added to abi/ ---===//
//
// The compile-time half of the toy-kind test (the load-time half is in
// test/unit/runtime/ArtifactTest.cpp): a kind registered in the contract's
// table alone, with no dialect code, is verified by stk.launch like a
// built-in kind.
//
//===----------------------------------------------------------------------===//

#include "abi/OpSpec.h"
#include "dialect/st/StDialect.h"
#include "dialect/stk/StkOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

namespace {

/// Parses (which verifies) a module; returns "" or the first error.
std::string verifyError(const std::string &text) {
  mlir::MLIRContext context;
  context.loadDialect<stc::st::StDialect, stc::stk::StkDialect>();
  std::string error;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (error.empty() && d.getSeverity() == mlir::DiagnosticSeverity::Error)
      error = d.str();
    return mlir::success();
  });
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &context);
  if (module && error.empty() && mlir::failed(mlir::verify(*module)))
    error = error.empty() ? "verification failed" : error;
  return module || !error.empty() ? error : "parse failed";
}

std::string program(const std::string &launch) {
  return "stk.buffer @a : tensor<64xf32> role \"activation\"\n"
         "stk.buffer @b : tensor<64xbf16> role \"activation\"\n"
         "stk.buffer @i : tensor<64xi32> role \"activation\"\n"
         "stk.program @p inputs {} outputs {} {\n  " +
         launch + "\n}\n";
}

TEST(StkVerifier, ToyKindThroughTheTableAlone) {
  // Before it is registered, the kind is unknown.
  EXPECT_NE(verifyError(program(
                "stk.launch \"toy_scale\" [@a, @b] params {count = 64 : i64}"))
                .find("unknown op kind 'toy_scale'"),
            std::string::npos);

  stc::abi::OpSpec toy;
  toy.name = "toy_scale";
  toy.flags = stc::abi::Kernel;
  toy.args = {
      {"x", stc::abi::DTypes::Float, stc::abi::Role::In, "", "count", "", ""},
      {"y", stc::abi::DTypes::Float, stc::abi::Role::Out, "", "count", "", ""}};
  toy.attrs = {{"count", stc::abi::AttrType::Int, false, 1, 4096, 1, 0, 0,
                stc::abi::Bounds::Closed, 0},
               {"scale", stc::abi::AttrType::Num, true, 0, 0, 1, 0, 10,
                stc::abi::Bounds::LoOpen, 1.0}};
  stc::abi::registerOpKind(toy);

  EXPECT_EQ(verifyError(program(
                "stk.launch \"toy_scale\" [@a, @b] params {count = 64 : i64}")),
            "");
  EXPECT_EQ(verifyError(program("stk.launch \"toy_scale\" [@a, @b] params "
                                "{count = 64 : i64, scale = 2.5 : f64}")),
            "");
  EXPECT_EQ(verifyError(program("stk.launch \"toy_scale\" [@a, @b] params "
                                "{count = 64 : i64, scale = 20.0 : f64}")),
            "'stk.launch' op 'toy_scale': attrs.scale: is 20; valid: 0 < "
            "scale <= 10");
  EXPECT_EQ(verifyError(program(
                "stk.launch \"toy_scale\" [@a, @i] params {count = 64 : i64}")),
            "'stk.launch' op 'toy_scale': arg 1 (y): buffer 'i' has dtype "
            "i32; expected f32, bf16 or f16");
  EXPECT_EQ(verifyError(program(
                "stk.launch \"toy_scale\" [@a] params {count = 64 : i64}")),
            "'stk.launch' op 'toy_scale': args: has 1 arguments; expected 2 "
            "(x, y)");
  EXPECT_EQ(verifyError(program(
                "stk.launch \"toy_scale\" [@a, @b] params {count = 32 : i64}")),
            "'stk.launch' op 'toy_scale': arg 0 (x): buffer 'a' has 64 "
            "elements; expected count = 32");
}

} // namespace
