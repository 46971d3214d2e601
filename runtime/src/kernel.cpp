#include "krsie/runtime/kernel.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace krsie::runtime {

namespace {

constexpr const char* k_lsm_list = "/sys/kernel/security/lsm";

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

}  // namespace

std::vector<std::string> parse_lsm_list(const std::string& text) {
  std::vector<std::string> lsms;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), [](char c) { return std::isspace((unsigned char)c); }),
               item.end());
    if (!item.empty()) lsms.push_back(item);
  }
  return lsms;
}

KernelSupport probe_kernel() {
  KernelSupport k;
  utsname u{};
  if (uname(&u) == 0) k.release = u.release;

  std::string text;
  if (!read_file(k_lsm_list, text)) {
    // securityfs may simply not be mounted (minimal systems, initramfs).
    mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
    k.lsm_list_readable = read_file(k_lsm_list, text);
  } else {
    k.lsm_list_readable = true;
  }
  k.active_lsms = parse_lsm_list(text);
  k.bpf_lsm_active = std::find(k.active_lsms.begin(), k.active_lsms.end(), "bpf") != k.active_lsms.end();

  struct stat st{};
  k.btf_present = stat("/sys/kernel/btf/vmlinux", &st) == 0;
  k.lsm_prog_type = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_LSM, nullptr) == 1;
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
  k.privileged = geteuid() == 0 || (has_capability(CAP_BPF) && has_capability(CAP_MAC_ADMIN) &&
                                    has_capability(CAP_SYS_ADMIN));
  return k;
}

std::vector<std::string> KernelSupport::problems() const {
  std::vector<std::string> out;
  if (!privileged)
    out.push_back("not running as root (or with CAP_BPF, CAP_MAC_ADMIN and CAP_SYS_ADMIN)");
  if (!btf_present)
    out.push_back("kernel lacks BTF (/sys/kernel/btf/vmlinux): it needs CONFIG_DEBUG_INFO_BTF=y");
  if (!lsm_list_readable)
    out.push_back("cannot read " + std::string(k_lsm_list) + ": mount securityfs on /sys/kernel/security");
  else if (!bpf_lsm_active)
    out.push_back("BPF LSM is not enabled: add bpf to the lsm= boot parameter (active LSMs: " +
                  [&] {
                    std::string s;
                    for (const auto& l : active_lsms) s += (s.empty() ? "" : ",") + l;
                    return s.empty() ? std::string("none") : s;
                  }() +
                  ")");
  if (privileged && !lsm_prog_type)
    out.push_back("this kernel cannot load BPF-LSM programs (BPF_PROG_TYPE_LSM refused; "
                  "it needs CONFIG_BPF_LSM=y and BPF trampoline support)");
  return out;
}

}  // namespace krsie::runtime
