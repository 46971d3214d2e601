#pragma once
// What the running kernel can do for KRSIE, probed without side effects, and the operator-facing
// explanation of anything missing.

#include <string>
#include <vector>

namespace krsie::runtime {

struct KernelSupport {
  std::string release;                  // uname -r
  std::vector<std::string> active_lsms; // /sys/kernel/security/lsm (empty if unreadable)
  bool lsm_list_readable = false;
  bool bpf_lsm_active = false;          // "bpf" is in the active LSM list
  bool btf_present = false;             // /sys/kernel/btf/vmlinux
  bool lsm_prog_type = false;           // the kernel accepts BPF_PROG_TYPE_LSM programs
  bool privileged = false;              // root, or CAP_BPF + CAP_MAC_ADMIN (+ CAP_PERFMON)

  // True when BPF-LSM policies can be loaded and will enforce.
  bool can_enforce() const {
    return bpf_lsm_active && btf_present && lsm_prog_type && privileged;
  }
  // One line per missing requirement, each saying how to fix it; empty when can_enforce().
  std::vector<std::string> problems() const;
};

// Probes the running kernel. Mounts securityfs at /sys/kernel/security when it is not mounted
// and we are allowed to (it is a pseudo filesystem; mounting it changes nothing else).
KernelSupport probe_kernel();

// Parses the contents of /sys/kernel/security/lsm ("lockdown,capability,bpf").
std::vector<std::string> parse_lsm_list(const std::string& text);

}  // namespace krsie::runtime
