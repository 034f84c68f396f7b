// RUN: stc-opt %s -split-input-file -stc-plan-memory -verify-diagnostics | FileCheck %s
// RUN: not stc-opt %s -split-input-file -stc-plan-memory=budget=1000 2>&1 | FileCheck %s --check-prefix=BUDGET

// Tests that persistent buffers come first, side by side, and that transient
// buffers share bytes exactly when their live ranges do not overlap:
// a lives over ops 1-2, b over 2-4, c over 3-4 and d from 4 to the end (an
// output), so c reuses a's bytes and d needs a third slot. Every buffer is
// 256 bytes: arena = 2 persistent + 3 transient slots = 1280 bytes.
// CHECK: module attributes {stk.arena_bytes = 1280 : i64, stk.persistent_bytes = 512 : i64}
// CHECK: stk.buffer @scalars : tensor<16xi32> role "scalars" offset 0
// CHECK: stk.buffer @p : tensor<64xf32> role "param" offset 256
// CHECK: stk.buffer @a : tensor<64xf32> role "activation" offset 512
// CHECK: stk.buffer @b : tensor<64xf32> role "activation" offset 768
// CHECK: stk.buffer @c : tensor<64xf32> role "activation" offset 512
// CHECK: stk.buffer @d : tensor<64xf32> role "output" offset 1024
// BUDGET: error: the model needs 1280 bytes of device memory (persistent 512 bytes, activations and gradients 768 bytes), over the budget of 1000 bytes; lower the batch or the context, or raise the budget
// expected-remark @below {{arena 1280 bytes: persistent 512 bytes, activations and gradients 768 bytes}}
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @p : tensor<64xf32> role "param"
  stk.buffer @a : tensor<64xf32> role "activation"
  stk.buffer @b : tensor<64xf32> role "activation"
  stk.buffer @c : tensor<64xf32> role "activation"
  stk.buffer @d : tensor<64xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @d} {
    stk.launch "zero" [@a] params {count = 64 : i64}
    stk.launch "add" [@a, @p, @b] params {count = 64 : i64}
    stk.launch "zero" [@c] params {count = 64 : i64}
    stk.launch "add" [@b, @c, @d] params {count = 64 : i64}
  }
}

// -----

// Sampling caches are not persistent: they live for the whole sample program
// (one session refills them from position 0) and share bytes with the
// training step's buffers. @kc reuses @t's bytes; @s, live in the same
// program as @kc, does not.
// CHECK-LABEL: module attributes {stk.arena_bytes = 768 : i64, stk.persistent_bytes = 256 : i64}
// CHECK: stk.buffer @t : tensor<64xf32> role "activation" offset 256
// CHECK: stk.buffer @l : tensor<64xf32> role "output" offset 512
// CHECK: stk.buffer @kc : tensor<64xf32> role "cache" offset 256
// CHECK: stk.buffer @s : tensor<64xf32> role "output" offset 512
// expected-remark @below {{arena 768 bytes: persistent 256 bytes, activations and gradients 512 bytes}}
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @t : tensor<64xf32> role "activation"
  stk.buffer @l : tensor<64xf32> role "output"
  stk.buffer @kc : tensor<64xf32> role "cache"
  stk.buffer @s : tensor<64xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @l} {
    stk.launch "zero" [@t] params {count = 64 : i64}
    stk.launch "add" [@t, @t, @l] params {count = 64 : i64}
  }
  stk.program @sample_step inputs {} outputs {logits = @s} {
    stk.launch "add" [@kc, @kc, @s] params {count = 64 : i64}
  }
}

// -----

// A cache needs the sample program it belongs to.
module {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  // expected-error @below {{is a sampling cache but the module has no sample_step program}}
  stk.buffer @kc : tensor<64xf32> role "cache"
  stk.buffer @l : tensor<64xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @l} {
    stk.launch "add" [@kc, @kc, @l] params {count = 64 : i64}
  }
}

// -----

// stk.buffer_groups (stc-group-gemms): each list lies side by side in list
// order. The persistent list [@w2, @w1] goes where its first declared
// member would; the transient [@y1, @y2] is one slot over both live ranges.
// CHECK-LABEL: module attributes {stk.arena_bytes = 1792 : i64, stk.buffer_groups = {{.*}}, stk.persistent_bytes = 1024 : i64}
// CHECK: stk.buffer @w1 : tensor<64xf32> role "param" offset 512
// CHECK: stk.buffer @q : tensor<64xf32> role "param" offset 768
// CHECK: stk.buffer @w2 : tensor<64xf32> role "param" offset 256
// CHECK: stk.buffer @y1 : tensor<64xf32> role "activation" offset 1024
// CHECK: stk.buffer @z : tensor<64xf32> role "output" offset 1536
// CHECK: stk.buffer @y2 : tensor<64xf32> role "activation" offset 1280
// expected-remark @below {{arena 1792 bytes: persistent 1024 bytes, activations and gradients 768 bytes}}
module attributes {stk.buffer_groups = [[@w2, @w1], [@y1, @y2]]} {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @w1 : tensor<64xf32> role "param"
  stk.buffer @q : tensor<64xf32> role "param"
  stk.buffer @w2 : tensor<64xf32> role "param"
  stk.buffer @y1 : tensor<64xf32> role "activation"
  stk.buffer @z : tensor<64xf32> role "output"
  stk.buffer @y2 : tensor<64xf32> role "activation"
  stk.program @train_step inputs {} outputs {losses = @z} {
    stk.launch "zero" [@y1] params {count = 64 : i64}
    stk.launch "zero" [@y2] params {count = 64 : i64}
    stk.launch "add" [@y1, @y2, @z] params {count = 64 : i64}
  }
}

// -----

// A list of buffers of different sizes cannot lie at equal distances.
// expected-error @below {{stk.buffer_groups: [@a, @b] must list distinct buffers of one size and lifetime kind, each in one list (stc-group-gemms writes it)}}
module attributes {stk.buffer_groups = [[@a, @b]]} {
  stk.buffer @scalars : tensor<16xi32> role "scalars"
  stk.buffer @a : tensor<64xf32> role "activation"
  stk.buffer @b : tensor<32xf32> role "activation"
  stk.buffer @l : tensor<64xf32> role "output"
  stk.program @train_step inputs {} outputs {losses = @l} {
    stk.launch "zero" [@a] params {count = 64 : i64}
    stk.launch "zero" [@b] params {count = 32 : i64}
    stk.launch "add" [@a, @a, @l] params {count = 64 : i64}
  }
}
