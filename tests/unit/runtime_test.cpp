// Runtime pieces that need no BPF-LSM kernel: parsing, cgroup resolution, kernel probing.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/inode.h"
#include "krsie/runtime/kernel.h"
#include "krsie/runtime/maps.h"

namespace krsie::runtime {
namespace {

// The automaton arrays are written as memory where the kernel maps them (BPF_F_MMAPABLE): element
// i at i * stride, zeroing clamped to the elements there are.
TEST(MappedValues, ElementsAndZeroingStayInsideTheMapping) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* base = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(base, MAP_FAILED);
  auto* bytes = static_cast<std::uint8_t*>(base);
  std::memset(bytes, 0xab, page);
  MappedValues values(base, page, 16, 10);  // 10 elements of 16 bytes (12-byte values, 8-aligned)
  EXPECT_EQ(values.at(3).data(), bytes + 48);
  EXPECT_EQ(values.at(3).size(), 16u);
  values.zero(2, 3);  // elements 2..4
  EXPECT_EQ(bytes[31], 0xab);
  EXPECT_EQ(bytes[32], 0);
  EXPECT_EQ(bytes[79], 0);
  EXPECT_EQ(bytes[80], 0xab);
  values.zero(8, 100);  // clamped to the 10 elements: 8 and 9
  EXPECT_EQ(bytes[127], 0xab);
  EXPECT_EQ(bytes[128], 0);
  EXPECT_EQ(bytes[159], 0);
  EXPECT_EQ(bytes[160], 0xab);
  values.zero(10, 1);  // beyond: nothing
  EXPECT_EQ(bytes[160], 0xab);
}

TEST(Kernel, ParsesTheLsmList) {
  EXPECT_EQ(parse_lsm_list("lockdown,capability,landlock,bpf\n"),
            (std::vector<std::string>{"lockdown", "capability", "landlock", "bpf"}));
  EXPECT_TRUE(parse_lsm_list("").empty());
  EXPECT_EQ(parse_lsm_list("bpf,,"), std::vector<std::string>{"bpf"});
}

TEST(Kernel, ProblemsExplainEachMissingPiece) {
  KernelSupport k;
  k.lsm_list_readable = true;
  k.active_lsms = {"lockdown", "capability"};
  k.privileged = true;
  k.btf_present = false;
  auto p = k.problems();
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NE(p[0].find("kernel lacks BTF"), std::string::npos);
  EXPECT_NE(p[1].find("BPF LSM is not enabled: add bpf to the lsm= boot parameter"), std::string::npos);
  EXPECT_NE(p[1].find("lockdown,capability"), std::string::npos);
  EXPECT_NE(p[2].find("cannot load BPF-LSM programs"), std::string::npos);
  EXPECT_FALSE(k.can_enforce());
}

TEST(Kernel, UnprivilegedIsReported) {
  KernelSupport k;
  k.lsm_list_readable = true;
  k.active_lsms = {"bpf"};
  k.bpf_lsm_active = k.btf_present = k.lsm_prog_type = true;
  EXPECT_FALSE(k.can_enforce());
  ASSERT_EQ(k.problems().size(), 1u);
  EXPECT_NE(k.problems()[0].find("not running as root"), std::string::npos);
  k.privileged = true;
  EXPECT_TRUE(k.can_enforce());
  EXPECT_TRUE(k.problems().empty());
}

// The live probe must be self-consistent: it can only claim enforcement when every piece is
// there, and must explain itself otherwise (on this project's CI host it explains that the
// kernel refuses BPF-LSM programs).
TEST(Kernel, LiveProbeIsConsistent) {
  KernelSupport k = probe_kernel();
  EXPECT_FALSE(k.release.empty());
  EXPECT_EQ(k.can_enforce(), k.problems().empty());
}

TEST(Inode, KernelDevEncoding) {
  EXPECT_EQ(kernel_dev(makedev(8, 1)), (8ull << 20) | 1);
  EXPECT_EQ(kernel_dev(makedev(0, 300)), 300ull);
  EXPECT_EQ(kernel_dev(makedev(259, 65536)), (259ull << 20) | 65536);
}

TEST(Inode, KeyOfAFileMatchesStat) {
  struct stat st{};
  ASSERT_EQ(stat("/proc/self/exe", &st), 0);
  krsie_inode_key k = inode_key("/proc/self/exe");
  EXPECT_EQ(k.ino, st.st_ino);
  EXPECT_EQ(k.dev, kernel_dev(st.st_dev));
  EXPECT_THROW(inode_key("/nonexistent/krsie"), RuntimeError);
}

TEST(Cgroup, RejectsPathsThatAreNotCgroupV2) {
  try {
    cgroup_id("/tmp");
    FAIL() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("is not on a cgroup v2 filesystem"), std::string::npos);
  }
  EXPECT_THROW(cgroup_id("/nonexistent/krsie"), RuntimeError);
}

TEST(Cgroup, ResolvesTheIdOfTheCgroup2Root) {
  auto root = cgroup2_mount_point();
  if (!root) GTEST_SKIP() << "cgroup2 is not mounted on this machine";
  std::uint64_t id = cgroup_id(*root);
  EXPECT_NE(id, 0u);
  // Stable for the same directory.
  EXPECT_EQ(id, cgroup_id(*root));
}

}  // namespace
}  // namespace krsie::runtime
