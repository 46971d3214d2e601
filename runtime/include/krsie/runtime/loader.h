#pragma once
// krsie-load's operations on pinned policies (docs/loader.md): load, replace, unload, mode,
// status. Every operation that changes something holds an exclusive lock on the state root.
//
// Loading is all-or-nothing: everything is built in staging directories that are renamed into
// place at the end; on any failure the staging pins are removed (which detaches the programs)
// and nothing stays behind. A replacement writes the new rules as the other rule generation
// beside the rules in force, switches generation with one aligned word update, waits for the
// programs that were running to finish, and only then removes the old generation: a failure
// before the switch removes the new generation and leaves the old policy in force.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "krsie/runtime/policy.h"
#include "krsie/runtime/policy_maps.h"
#include "krsie/runtime/state.h"

namespace krsie::runtime {

struct TargetRequest {
  std::vector<std::string> cgroups;  // --cgroup: absolute, or relative to the cgroup2 mount
  bool node_wide = false;            // --node-wide: the root cgroup
};

struct LoadRequest {
  std::string object_path;
  TargetRequest targets;
  std::optional<bool> enforce;  // default: the policy's mode
  unsigned headroom = 3;        // map capacity, in multiples of the policy's entries (1..64)
};

struct LoadResult {
  std::string name;
  bool enforce = false;
  std::vector<TargetRecord> targets;
  std::vector<std::string> programs;
  std::map<std::string, std::uint32_t> map_sizes;
  std::string pin_dir, state_dir;
  // Monotonic-clock timings in milliseconds.
  double check_ms = 0;   // parsing and checking the object, resolving targets, probing the kernel
  double verify_ms = 0;  // creating maps and loading programs (the kernel's verifier)
  double fill_ms = 0;    // writing the rules, targets and configuration
  double attach_ms = 0;  // attaching the programs
  double pin_ms = 0;     // pinning, saving the state, renaming into place
  double milliseconds = 0;
};

struct ReplaceRequest {
  std::string name;
  std::string object_path;
  std::optional<TargetRequest> targets;  // default: the load's --cgroup/--node-wide
  std::optional<bool> enforce;           // default: the new policy's mode
};

struct ReplaceResult {
  std::string name;
  unsigned from_generation = 0, to_generation = 0;
  bool enforce = false;
  std::vector<TargetRecord> targets;
  std::vector<std::string> attached, detached;  // programs attached / detached by the switch
  std::size_t entries_written = 0;
  // Monotonic-clock timings in milliseconds.
  double prepare_ms = 0;  // parse, checks, programs, writing the new generation (without sync_ms)
  // prepare_ms by step (they add up to it, give or take the clock reads).
  struct PrepareSteps {
    double read_ms = 0;      // reading and checking the new object
    double open_ms = 0;      // the lock, the pinned maps and state, targets, the kernel probe
    double purge_ms = 0;     // listing the keys of both generations, the fit check, purging `next`
    double rewrite_ms = 0;   // `next`'s entries rewritten, exact paths resolved (before the wait)
    double programs_ms = 0;  // loading and attaching programs the old policy did not use
    double write_ms = 0;     // writing `next`'s entries, targets, enforce bit
    double copy_ms = 0;      // pinning new links, keeping the object in the state directory
  } steps;
  double publish_ms = 0;  // grace period ordering the new generation before the switch
  double switch_ms = 0;   // the configuration word update
  double sync_ms = 0;     // blocked waiting for program runs that began before the previous switch
                          // (a grace period begun when the lock was taken; before `next` is purged)
  double cleanup_ms = 0;  // detaching unused programs, the state file (`cur` is purged by the next replacement)
  double total_ms = 0;
  std::vector<std::string> warnings;
};

struct PolicyStatus {
  std::string name;
  std::vector<std::string> problems;  // empty: healthy
  unsigned generation = 0;
  bool enforce = false;
  std::vector<TargetRecord> targets;
  std::vector<std::string> hooks;  // attached programs, as hook names
  std::size_t rules = 0;           // rules of the policy in force (metadata rule table)
  std::map<std::string, std::uint32_t> rule_entries;  // per hook: rule table entries in force
  PolicyCounters counters;
  std::string created, replaced;
  unsigned replacements = 0;
  std::string source;  // the policy object in force was loaded from here
  std::string pin_dir, state_dir;
  // per map the loader sizes: entries in force / max_entries
  std::map<std::string, std::pair<std::uint32_t, std::uint32_t>> capacity;
};

// Checks that the kernel can enforce BPF-LSM policies; throws ErrorKind::kernel with one line
// per missing piece (and how to fix it) otherwise.
void require_kernel();

// The policy's cgroup targets plus the requested ones, resolved to ids now. Throws
// ErrorKind::usage when there is no target at all or a path is not a cgroup v2 directory.
std::vector<TargetRecord> resolve_targets(const PolicyMetadata& meta, const TargetRequest& request);

// The krsie_config.table_epoch after `gray` (a replacement advances it before it rewrites a
// generation's tables): a Gray code, so one bit, one byte, changes per step.
std::uint32_t next_table_epoch(std::uint32_t gray);

LoadResult load_policy(const LoaderPaths& paths, const LoadRequest& request);
ReplaceResult replace_policy(const LoaderPaths& paths, const ReplaceRequest& request);
void unload_policy(const LoaderPaths& paths, const std::string& name);
// Unloads every policy (and removes leftovers of interrupted commands); returns the names.
std::vector<std::string> unload_all(const LoaderPaths& paths);
// Sets audit (false) or enforce (true) mode; returns the previous mode.
bool set_policy_mode(const LoaderPaths& paths, const std::string& name, bool enforce);

std::vector<PolicyStatus> list_policies(const LoaderPaths& paths);
PolicyStatus policy_status(const LoaderPaths& paths, const std::string& name);

// Renderings for the CLI: JSON (stable field names) and terminal text.
std::string status_json(const std::vector<PolicyStatus>& policies, bool array);
std::string status_table(const std::vector<PolicyStatus>& policies);
std::string status_details(const PolicyStatus& policy);
std::string load_result_json(const LoadResult& r);
std::string load_result_text(const LoadResult& r);
std::string replace_result_json(const ReplaceResult& r);
std::string replace_result_text(const ReplaceResult& r);

// "file_open" for KRSIE_HOOK_FILE_OPEN, "hook#N" for an unknown id.
std::string hook_name(std::uint32_t hook);

}  // namespace krsie::runtime
