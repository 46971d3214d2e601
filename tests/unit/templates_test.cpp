// The embedded BPF templates parse with libbpf (no kernel needed) and agree with the ABI header.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <string>

#include "krsie/runtime/bpf.h"
#include "krsie/templates.h"
#include "krsie_abi.h"

namespace krsie {
namespace {

TEST(Templates, FileTemplateIsEmbedded) {
  const templates::Template* t = templates::find("file");
  ASSERT_NE(t, nullptr);
  ASSERT_GT(t->elf.size(), 64u);
  EXPECT_EQ(t->elf[0], 0x7f);
  EXPECT_EQ(t->elf[1], 'E');
  EXPECT_EQ(templates::find("no-such-template"), nullptr);
}

// The LLVM backend's runtime library is embedded as LLVM bitcode (magic 'BC' 0xC0DE).
TEST(Templates, LlvmRuntimeIsBitcode) {
  const templates::Template* t = templates::find("llvm_runtime");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->bitcode);
  ASSERT_GT(t->elf.size(), 4u);
  EXPECT_EQ(t->elf[0], 'B');
  EXPECT_EQ(t->elf[1], 'C');
  EXPECT_EQ(t->elf[2], 0xC0);
  EXPECT_EQ(t->elf[3], 0xDE);
  EXPECT_FALSE(templates::find("generic")->bitcode);
}

TEST(Templates, EveryTemplateOpensAndHasTheCommonMaps) {
  ASSERT_FALSE(templates::all().empty());
  for (const templates::Template& t : templates::all()) {
    if (t.bitcode) continue;
    runtime::BpfObject obj = runtime::BpfObject::open_memory(t.name, t.elf);
    auto maps = obj.map_names();
    for (const char* m : {"krsie_targets", "krsie_config", "krsie_events"})
      EXPECT_NE(std::find(maps.begin(), maps.end(), m), maps.end()) << t.name << " lacks " << m;
    EXPECT_FALSE(obj.program_names().empty()) << t.name;
  }
}

// Sizes of the ABI structs in each template's BTF match the C++ compiler's view.
TEST(Templates, BtfLayoutMatchesTheAbiHeader) {
  for (const templates::Template& t : templates::all()) {
    if (t.bitcode) continue;
    LIBBPF_OPTS(bpf_object_open_opts, opts);
    bpf_object* obj = bpf_object__open_mem(t.elf.data(), t.elf.size(), &opts);
    ASSERT_NE(obj, nullptr);
    const btf* tb = bpf_object__btf(obj);
    ASSERT_NE(tb, nullptr) << t.name << " has no BTF";
    auto size_of = [&](const char* name) -> long {
      int id = btf__find_by_name_kind(tb, name, BTF_KIND_STRUCT);
      return id < 0 ? -1 : btf__resolve_size(tb, id);
    };
    EXPECT_EQ(size_of("krsie_target"), (long)sizeof(krsie_target)) << t.name;
    EXPECT_EQ(size_of("krsie_config"), (long)sizeof(krsie_config)) << t.name;
    long rule = size_of("krsie_rule");
    if (rule >= 0) {
      EXPECT_EQ(rule, (long)sizeof(krsie_rule)) << t.name;
    }
    long key = size_of("krsie_inode_key");
    if (key >= 0) {
      EXPECT_EQ(key, (long)sizeof(krsie_inode_key)) << t.name;
    }
    bpf_object__close(obj);
  }
}

}  // namespace
}  // namespace krsie
