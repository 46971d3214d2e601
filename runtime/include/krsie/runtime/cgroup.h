#pragma once
// cgroup v2 helpers: find the unified hierarchy, resolve a cgroup directory to the 64-bit id
// the kernel reports from bpf_get_current_cgroup_id(), create and remove test cgroups.

#include <cstdint>
#include <optional>
#include <string>

namespace krsie::runtime {

// Mount point of the cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid
// systems), from /proc/self/mountinfo; nullopt when cgroup2 is not mounted.
std::optional<std::string> cgroup2_mount_point();

// The cgroup id of a cgroup v2 directory. Throws RuntimeError when the path does not exist or is
// not on a cgroup2 filesystem. Ids change when a directory is recreated: resolve at attach time.
std::uint64_t cgroup_id(const std::string& path);

// The path of the cgroup v2 directory with this id (open_by_handle_at on the cgroup2 mount;
// needs CAP_DAC_READ_SEARCH), or nullopt when it cannot be found (removed, or not permitted).
std::optional<std::string> cgroup_path(std::uint64_t id);

// The level of the cgroup v2 directory with this id (the root is 0, its children 1, ...), as
// bpf_get_current_ancestor_cgroup_id() counts levels; nullopt when it cannot be told: the
// directory is not found (removed, or not permitted), or this process does not see the whole
// hierarchy from its root (a cgroup namespace other than the initial one, or a cgroup2 mount of
// a subtree), where path depth is not the kernel's level.
std::optional<unsigned> cgroup_level(std::uint64_t id);
// Moves process `pid` (0: the caller) into the cgroup at `path`.
void move_to_cgroup(const std::string& path, int pid = 0);

}  // namespace krsie::runtime
