//===- Layouts.cpp - Layouts: rebuilt from their patterns -----------------===//
//
// The manifest names each layout by (pattern, n, block), the number of
// blocks it lists and the fingerprint of its tables. The runtime rebuilds it
// with the pattern library, exactly as stc-tile-attention did, and rejects
// the artifact when the result differs: kernels skip blocks not listed and
// mask only blocks listed as partial, so a wrong layout is wrong attention.
//
//===----------------------------------------------------------------------===//

#include "runtime/artifact/ManifestJson.h"
#include "runtime/artifact/Validator.h"

#include "abi/Hash.h"

namespace stc::rt::manifest {

Status readLayouts(const json::Value &root, Artifact &a, NameIndex &names) {
  const json::Value *ls;
  STC_RETURN_IF_ERROR(getMember(root, "layouts", "manifest", ls));
  if (!ls->isArray())
    return fail("layouts", "must be an array, got " + show(*ls), ls);
  for (size_t i = 0; i < ls->size(); ++i) {
    const json::Value &lj = ls->asArray()[i];
    std::string where = "layouts[" + std::to_string(i) + "]";
    STC_RETURN_IF_ERROR(checkKeys(
        lj, where, {"name", "pattern", "n", "block", "blocks", "fnv1a64"}));
    Layout l;
    STC_RETURN_IF_ERROR(getString(lj, "name", where, l.name));
    where += " " + quoted(l.name);
    if (names.layouts.count(l.name))
      return fail(where, "duplicate layout name", lj.find("name"));
    STC_RETURN_IF_ERROR(getString(lj, "pattern", where, l.patternText));
    std::string perr;
    auto pat = pattern::Pattern::parse(l.patternText, &perr);
    if (!pat)
      return fail(where + ".pattern",
                  "cannot parse " + quoted(l.patternText) + ": " + perr,
                  lj.find("pattern"));
    l.pattern = *pat;
    int64_t n, block, blocks;
    STC_RETURN_IF_ERROR(getInt(lj, "n", where, n, 1, abi::kMaxContext));
    STC_RETURN_IF_ERROR(getInt(lj, "block", where, block, 1, abi::kMaxDim));
    STC_RETURN_IF_ERROR(
        getInt(lj, "blocks", where, blocks, 0, abi::kMaxLayoutBlocks));
    uint64_t want;
    STC_RETURN_IF_ERROR(getHex64(lj, "fnv1a64", where, want));

    std::string error;
    auto built = abi::buildLayout(l.pattern, n, block, &error);
    if (!built)
      return fail(where, error, &lj);
    std::string rebuilt = "does not match its pattern " +
                          quoted(l.patternText) + " rebuilt with n=" +
                          std::to_string(n) + ", block=" +
                          std::to_string(block) + ": ";
    if (built->numBlocks() != blocks)
      return fail(where,
                  rebuilt + "blocks is " + std::to_string(blocks) +
                      ", the pattern gives " +
                      std::to_string(built->numBlocks()),
                  lj.find("blocks"));
    uint64_t got = abi::layoutFingerprint(*built);
    if (got != want)
      return fail(where,
                  rebuilt + "fnv1a64 is " + abi::hex64(want) +
                      ", the rebuilt tables hash to " + abi::hex64(got),
                  lj.find("fnv1a64"));
    l.blocks = std::move(*built);
    names.layouts[l.name] = static_cast<int>(a.layouts.size());
    a.layouts.push_back(std::move(l));
  }
  return Status::ok();
}

void buildColumnViews(Artifact &a) {
  for (const Entry &e : a.entries)
    for (const Op &op : e.ops)
      if (op.kind == OpKind::AttentionBwd ||
          op.kind == OpKind::AttentionBwdAtomic)
        for (int li : op.layouts) {
          Layout &l = a.layouts[static_cast<size_t>(li)];
          if (l.hasColumns)
            continue;
          abi::BlockColumns cols = abi::blockLayoutColumns(l.blocks);
          l.colPtr = std::move(cols.colPtr);
          l.rowIdx = std::move(cols.rowIdx);
          l.colClasses = std::move(cols.classes);
          l.hasColumns = true;
        }
}

} // namespace stc::rt::manifest
