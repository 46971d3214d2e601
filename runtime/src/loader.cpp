#include "krsie/runtime/loader.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/generation.h"
#include "krsie/runtime/kernel.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The backend an object's metadata names ("": written before backends were recorded: generic).
std::string backend_of(const PolicyMetadata& meta) { return meta.backend.empty() ? "generic" : meta.backend; }

bool exists(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0;
}

// The path memo's forgetting program first: it must run before any program that remembers
// (docs/generic-backend.md, "Path memo").
std::vector<std::string> forget_first(std::vector<std::string> programs) {
  std::stable_partition(programs.begin(), programs.end(), [](const std::string& p) { return p == KRSIE_FORGET_PROGRAM; });
  return programs;
}

std::string program_hook(const std::string& program) {
  return program.rfind("krsie_", 0) == 0 ? program.substr(6) : program;
}

// Blocks the signals an operator sends (Ctrl-C, kill, hangup) while pins and maps change, so a
// command is never cut in the middle of a load, replacement or unload. SIGKILL still works: the
// staging names then show the leftovers, which `unload --all` removes.
class SignalBlock {
 public:
  SignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalBlock() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

// Runs `undo` at scope exit unless dismissed.
class Rollback {
 public:
  explicit Rollback(std::function<void()> undo) : undo_(std::move(undo)) {}
  ~Rollback() {
    if (undo_) {
      try {
        undo_();
      } catch (...) {
      }
    }
  }
  void dismiss() { undo_ = nullptr; }

 private:
  std::function<void()> undo_;
};

// Runs `f`, swallowing errors (for undo steps: one failing must not stop the others).
void attempt(const std::function<void()>& f) {
  try {
    f();
  } catch (...) {
  }
}

void check_name(const std::string& name) {
  if (!valid_policy_name(name))
    throw RuntimeError(ErrorKind::usage,
                       "'" + name + "' is not a policy name (letters, digits, '-', '_'; at most 64 bytes)", EINVAL);
}

// Throws not_loaded unless the policy has pins or state (checked before taking the lock, so
// that asking about a policy that is not there creates nothing).
void require_present(const LoaderPaths& paths, const std::string& name) {
  check_name(name);
  if (!exists(paths.pin_dir(name)) && !exists(paths.state_dir(name)))
    throw RuntimeError(ErrorKind::not_loaded, "no policy named '" + name + "' is loaded (see krsie-load list)", ENOENT);
}

// The maps of a loaded policy reopened from their pins, its state and its attached programs.
struct Opened {
  PolicyState state;
  PolicyMaps maps;
  std::vector<std::string> links;  // program names pinned under links/
};

Opened open_loaded(const LoaderPaths& paths, const std::string& name) {
  check_name(name);
  std::string pins = paths.pin_dir(name), state_dir = paths.state_dir(name);
  bool have_pins = exists(pins), have_state = exists(state_dir);
  if (!have_pins && !have_state)
    throw RuntimeError(ErrorKind::not_loaded, "no policy named '" + name + "' is loaded (see krsie-load list)", ENOENT);
  if (!have_pins)
    throw RuntimeError(ErrorKind::generic,
                       "policy '" + name + "' has state in " + state_dir + " but no pins in " + pins +
                           " (was bpffs remounted?): `krsie-load unload " + name + "` clears it",
                       ENOENT);
  if (!have_state)
    throw RuntimeError(ErrorKind::generic,
                       "policy '" + name + "' has pins in " + pins + " but no state in " + state_dir +
                           " (another --state-dir?): `krsie-load unload " + name + "` removes it",
                       ENOENT);
  Opened o;
  try {
    o.state = read_state(state_dir);
  } catch (const RuntimeError& e) {
    throw RuntimeError(std::string(e.what()) + ": `krsie-load unload " + name + "` removes the policy", e.error_number());
  }
  for (const std::string& m : list_dir(pins + "/maps", false))
    o.maps.add(m, MapHandle::open_pinned(pins + "/maps/" + m, m));
  for (const char* required : {"krsie_config", "krsie_targets", "krsie_hooks", "krsie_events", "krsie_stats"})
    if (!o.maps.has(required))
      throw RuntimeError("policy '" + name + "' lacks the pinned map " + std::string(required) + " in " + pins +
                             "/maps: `krsie-load unload " + name + "` removes what is left",
                         ENOENT);
  o.links = list_dir(pins + "/links", false);
  return o;
}

std::string object_file(unsigned gen) { return "policy.g" + std::to_string(gen & 1) + ".o"; }

// The file `replace` copies a new object into, overwritten in place (docs/loader.md).
constexpr const char* k_spare_object = "policy.spare.o";

std::vector<std::uint64_t> target_ids(const std::vector<TargetRecord>& targets) {
  std::vector<std::uint64_t> ids;
  for (const TargetRecord& t : targets) ids.push_back(t.id);
  return ids;
}

std::string joined(const std::vector<std::string>& lines, const std::string& sep) {
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : sep) + l;
  return out;
}

std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

}  // namespace

// A program reading the word while the update copies it byte by byte sees the old or the new value.
std::uint32_t next_table_epoch(std::uint32_t gray) {
  std::uint32_t n = gray;
  for (std::uint32_t shift = 1; shift < 32; shift <<= 1) n ^= n >> shift;  // Gray -> binary
  ++n;
  return n ^ (n >> 1);
}

std::string hook_name(std::uint32_t hook) {
  static const char* names[KRSIE_HOOK_MAX] = {
      "none",          "file_open",         "bprm_check_security", "path_mknod",        "path_unlink",
      "path_rmdir",    "path_mkdir",        "path_rename",         "path_link",         "path_symlink",
      "path_chmod",    "path_chown",        "path_truncate",       "socket_connect",    "socket_bind",
      "socket_listen", "socket_accept",     "socket_create",       "socket_sendmsg",    "capable",
      "task_fix_setuid", "task_fix_setgid", "ptrace_access_check", "ptrace_traceme",    "sb_mount",
      "move_mount",    "kernel_read_file",  "kernel_load_data",    "kernel_module_request", "bpf",
      "task_kill",     "bprm_creds_for_exec", "file_mprotect",     "mmap_file",         "vm_enough_memory",
      "file_permission", "file_ioctl",      "inode_create",        "inode_link",        "inode_mkdir",
      "inode_rename",  "inode_rmdir",       "inode_symlink",       "inode_unlink",      "locked_down",
      "sb_umount",     "socket_post_create", "socket_recvmsg",     "task_alloc",        "task_free",
  };
  return hook < KRSIE_HOOK_MAX ? names[hook] : "hook#" + std::to_string(hook);
}

void require_kernel() {
  KernelSupport k = probe_kernel();
  if (k.can_enforce()) return;
  throw RuntimeError(ErrorKind::kernel,
                     joined(k.problems(), "\n") + "\nthis kernel cannot enforce BPF-LSM policies (kernel " + k.release + ")",
                     EPERM);
}

std::vector<TargetRecord> resolve_targets(const PolicyMetadata& meta, const TargetRequest& request) {
  std::vector<std::pair<std::string, std::string>> wanted;  // path, origin
  for (const std::string& p : meta.cgroup_targets) wanted.emplace_back(p, "policy");
  std::optional<std::string> root;
  for (const std::string& p : request.cgroups) {
    if (p.empty()) throw RuntimeError(ErrorKind::usage, "--cgroup needs a path", EINVAL);
    if (p[0] == '/') {
      wanted.emplace_back(p, "option");
      continue;
    }
    if (!root) root = cgroup2_mount_point();
    if (!root) throw RuntimeError(ErrorKind::usage, "--cgroup " + p + ": cgroup v2 is not mounted, give an absolute path", EINVAL);
    wanted.emplace_back(*root + "/" + p, "option");
  }
  if (request.node_wide) {
    if (!root) root = cgroup2_mount_point();
    if (!root) throw RuntimeError(ErrorKind::usage, "--node-wide: cgroup v2 is not mounted on this node", ENOENT);
    wanted.emplace_back(*root, "node-wide");
  }
  if (wanted.empty()) {
    std::string msg = "policy '" + meta.name +
                      "' has no cgroup targets: name the cgroups to confine with --cgroup PATH, or confine the whole "
                      "node with --node-wide";
    if (meta.pod_targets)
      msg += " (its " + std::to_string(meta.pod_targets) + " pod selector(s) are resolved by a node agent, not by krsie-load)";
    throw RuntimeError(ErrorKind::usage, msg, EINVAL);
  }
  std::vector<TargetRecord> out;
  std::set<std::uint64_t> seen;
  for (const auto& [path, origin] : wanted) {
    std::uint64_t id;
    try {
      id = cgroup_id(path);
    } catch (const RuntimeError& e) {
      throw RuntimeError(ErrorKind::usage,
                         std::string(e.what()) + (origin == "policy" ? " (a target of policy '" + meta.name + "')" : ""),
                         e.error_number());
    }
    if (seen.insert(id).second) out.push_back({path, id, origin});
  }
  if (out.size() > KRSIE_MAX_TARGETS)
    throw RuntimeError(ErrorKind::usage, "more than " + std::to_string(KRSIE_MAX_TARGETS) + " target cgroups", E2BIG);
  return out;
}

// ---- load ---------------------------------------------------------------------------------

LoadResult load_policy(const LoaderPaths& paths, const LoadRequest& request) {
  auto started = Clock::now();
  if (request.headroom < 1 || request.headroom > 64)
    throw RuntimeError(ErrorKind::usage, "--headroom must be between 1 and 64", EINVAL);
  // Everything that needs no kernel first: a bad object or a bad target is reported as such on
  // any machine, before the kernel check.
  PolicyObject policy = PolicyObject::read_file(request.object_path, RuleText::skip);  // texts: for events, from the copy
  try {
    policy.check_template();
  } catch (const RuntimeError& e) {
    throw RuntimeError(e.kind(), request.object_path + ": " + e.what(), e.error_number());
  }
  const std::string name = policy.meta.name;
  if (!valid_policy_name(name))
    throw RuntimeError(ErrorKind::bad_object, request.object_path + ": policy name '" + name + "' cannot name a pin directory",
                       EINVAL);
  std::vector<TargetRecord> targets = resolve_targets(policy.meta, request.targets);
  require_kernel();

  SignalBlock no_signals;
  DirLock lock(paths.state_root);
  std::string pin_dir = paths.pin_dir(name), state_dir = paths.state_dir(name);
  if (exists(pin_dir) || exists(state_dir)) {
    bool whole = exists(pin_dir) && exists(state_dir);
    throw RuntimeError(ErrorKind::already_loaded,
                       "policy '" + name + "' is already loaded" +
                           (whole ? ": use `krsie-load replace " + name + " POLICY.o` to change its rules"
                                  : " only in part (" + (exists(pin_dir) ? pin_dir : state_dir) + "): `krsie-load unload " +
                                        name + "` clears it"),
                       EEXIST);
  }
  ensure_bpffs(paths.bpffs_root);

  // bpffs refuses names with dots; '+' cannot appear in a policy name, so a staging directory
  // is never taken for a policy (list reports it as a leftover, unload --all removes it).
  std::string suffix = "+loading-" + std::to_string(getpid()) + "-" + name;
  std::string stage_pins = paths.bpffs_root + "/" + suffix, stage_state = paths.state_root + "/" + suffix;
  std::vector<std::string> created_roots = make_dirs(paths.bpffs_root);
  bool renamed_pins = false, renamed_state = false;
  std::vector<BpfLink> links;
  std::unique_ptr<BpfObject> object;
  Rollback undo([&] {
    links.clear();  // unpinned links detach when their last fd closes
    remove_tree(stage_pins);
    remove_tree(stage_state);
    if (renamed_pins) remove_tree(pin_dir);
    if (renamed_state) remove_tree(state_dir);
    for (auto it = created_roots.rbegin(); it != created_roots.rend(); ++it) rmdir(it->c_str());
  });

  LoadResult result;
  result.name = name;
  result.enforce = request.enforce.value_or(policy.meta.mode == "enforce");
  result.targets = targets;
  result.programs = policy.meta.programs;
  result.map_sizes = plan_map_sizes(entry_counts(policy), request.headroom);
  result.pin_dir = pin_dir;
  result.state_dir = state_dir;

  result.check_ms = ms_since(started);
  auto t = Clock::now();
  object = std::make_unique<BpfObject>(BpfObject::open_memory(name, policy.elf));
  object->prepare(policy.meta.programs, result.map_sizes);
  object->load();
  result.verify_ms = ms_since(t);
  t = Clock::now();
  PolicyMaps maps;
  // Internal maps (.rodata, .bss: names with a dot, which bpffs refuses) are not pinned: the
  // programs that use them keep them alive.
  for (const std::string& m : object->map_names())
    if (m.find('.') == std::string::npos) maps.add(m, MapHandle::from_fd(object->map(m).fd(), m));
  maps.write_generation(policy, 0);
  maps.add_targets(target_ids(targets), 0);
  krsie_config config = policy.compiled_config();
  config.generation = 0;
  config.enforce = result.enforce ? 3u : 0u;
  const krsie_config targets_part = maps.config();  // target levels and filter: written by add_targets
  config.target_levels = targets_part.target_levels;
  config.target_filter = targets_part.target_filter;
  std::copy(std::begin(targets_part.target_ids), std::end(targets_part.target_ids), std::begin(config.target_ids));
  std::copy(std::begin(targets_part.target_gens), std::end(targets_part.target_gens), std::begin(config.target_gens));
  maps.write_config(config);
  result.fill_ms = ms_since(t);
  t = Clock::now();
  const std::vector<std::string> attach_order = forget_first(policy.meta.programs);
  for (const std::string& p : attach_order) links.push_back(object->attach(p));
  result.attach_ms = ms_since(t);
  t = Clock::now();

  make_dirs(stage_pins + "/maps");
  make_dirs(stage_pins + "/links");
  for (const auto& [m, handle] : maps.all()) handle.pin(stage_pins + "/maps/" + m);
  for (std::size_t i = 0; i < links.size(); ++i) links[i].pin(stage_pins + "/links/" + attach_order[i]);

  make_dirs(stage_state);
  PolicyState state;
  state.name = name;
  state.created = now_rfc3339();
  state.headroom = request.headroom;
  state.option_cgroups = request.targets.cgroups;
  state.node_wide = request.targets.node_wide;
  state.targets = targets;
  state.objects[0] = object_file(0);
  state.sources[0] = absolute(request.object_path);
  state.template_digest = object->code_digest();
  state.backend = backend_of(policy.meta);
  write_file_atomic(stage_state + "/" + object_file(0), policy.elf);
  // Two more copies for replacements to overwrite in place (docs/loader.md, "Pins and state"):
  // generation 1's file (no generation 1 yet: state.json names none) and the spare. Without them
  // the first two replacements would allocate (and later free) the pages of a whole object.
  write_file_atomic(stage_state + "/" + object_file(1), policy.elf);
  write_file_atomic(stage_state + "/" + k_spare_object, policy.elf);
  write_state(stage_state, state);

  if (rename(stage_pins.c_str(), pin_dir.c_str()) != 0)
    throw RuntimeError(describe_errno("cannot rename " + stage_pins + " to " + pin_dir, errno), errno);
  renamed_pins = true;
  if (rename(stage_state.c_str(), state_dir.c_str()) != 0)
    throw RuntimeError(describe_errno("cannot rename " + stage_state + " to " + state_dir, errno), errno);
  renamed_state = true;
  undo.dismiss();
  // The pins keep programs attached and maps alive; our own fds close with `links`/`object`.
  result.pin_ms = ms_since(t);
  result.milliseconds = ms_since(started);
  return result;
}

// ---- replace ------------------------------------------------------------------------------

ReplaceResult replace_policy(const LoaderPaths& paths, const ReplaceRequest& request) {
  auto started = Clock::now();
  ReplaceResult::PrepareSteps steps;
  auto step = Clock::now();
  auto step_done = [&step](double& ms) {
    ms = ms_since(step);
    step = Clock::now();
  };
  check_name(request.name);
  SignalBlock no_signals;
  std::optional<DirLock> lock;
  // The generation not in force may still be read by program runs that began before the last
  // switch: the replacement that made it returned without waiting for them. A grace period begun
  // once the lock is held (no switch can come after it), on a thread of its own, ends them while
  // this command reads and checks the new object; `next` is purged only after it (below).
  std::optional<BackgroundGracePeriod> previous_runs;
  auto take_lock = [&] {
    lock.emplace(paths.state_root);
    previous_runs.emplace();
  };
  // The new object is copied into the policy's state directory first and read from that copy
  // (mapped: only the pages the loader reads are touched, the JSON is not): what is loaded is
  // exactly what stays there for `events` and `show`, and it is not read twice. Without a state
  // directory (no such policy) it is read into memory, so that a bad object is still reported
  // as such.
  std::optional<StagedCopy> staged;
  PolicyObject policy;
  auto named = [&](const RuntimeError& e) {
    return RuntimeError(e.kind(), request.object_path + ": " + e.what(), e.error_number());
  };
  if (exists(paths.state_dir(request.name))) {
    take_lock();
    // Under the lock: one name will do. After a replacement it holds the object replaced two
    // switches ago (StagedCopy::commit exchanges), whose pages the next copy overwrites.
    staged.emplace(request.object_path, paths.state_dir(request.name) + "/" + k_spare_object);
    try {
      policy = PolicyObject::parse(staged->mapping(), staged->bytes(), RuleText::skip);  // texts: for events
    } catch (const RuntimeError& e) {
      throw named(e);
    }
  } else {
    policy = PolicyObject::read_file(request.object_path, RuleText::skip);
  }
  auto check_template = [&] {
    try {
      policy.check_template();
    } catch (const RuntimeError& e) {
      throw named(e);
    }
  };
  // Without a state directory (no such policy) the template is checked here, so that a bad object
  // is reported as such; otherwise once the policy in force is known (below).
  if (!staged) check_template();
  if (policy.meta.name != request.name)
    throw RuntimeError(ErrorKind::usage,
                       request.object_path + " holds policy '" + policy.meta.name + "', not '" + request.name +
                           "': a replacement keeps the policy's name (unload and load to rename)",
                       EINVAL);
  step_done(steps.read_ms);

  require_present(paths, request.name);
  if (!lock) take_lock();
  Opened loaded = open_loaded(paths, request.name);
  // Backends: a generic object's rules are map entries (the programs stay, the next generation's
  // entries are written and one word switches); an LLVM object's rules are program code (its
  // programs are loaded too, for the next generation only, and the same word switches code and
  // entries: see docs/loader.md). Switching between the two kinds is not atomic: refused (below).
  const std::string new_backend = backend_of(policy.meta);
  const bool code_replacement = new_backend == "llvm";
  // Programs the old policy did not use (generic), or every program (LLVM: new code), loaded from
  // the new object.
  std::set<std::string> attached(loaded.links.begin(), loaded.links.end());
  std::vector<std::string> new_programs;
  for (const std::string& p : policy.meta.programs)
    if (code_replacement || !attached.count(p)) new_programs.push_back(p);
  new_programs = forget_first(std::move(new_programs));
  if (staged) {
    // libbpf's open of the template costs ~2.7 M instructions at 10,000 rules. A generic
    // replacement whose programs are all attached loads nothing from the new template: when that
    // template is byte for byte the one of an object kept in the state directory (an object is
    // kept only after its template passed this check), the check is not repeated.
    // (An object naming no programs is refused by the check: it must not look like one that
    // loads nothing.)
    bool loads_nothing = new_backend == "generic" && !policy.meta.programs.empty() && new_programs.empty();
    bool checked = false;
    for (unsigned g = 0; loads_nothing && !checked && g < 2; ++g)
      if (!loaded.state.objects[g].empty())
        checked = policy.same_template(MappedFile(paths.state_dir(request.name) + "/" + loaded.state.objects[g]).bytes());
    if (!checked) check_template();
  }
  // The state records the backend in force; older state files do not: parse the object in force
  // (its metadata holds every rule: ~0.5 G instructions at 10,000 rules).
  std::string old_backend = loaded.state.backend;
  if (old_backend.empty()) {
    old_backend = "generic";
    const std::string& in_force = loaded.state.objects[loaded.maps.generation()];
    if (!in_force.empty())
      old_backend =
          backend_of(PolicyObject::parse(read_whole_file(paths.state_dir(request.name) + "/" + in_force), RuleText::skip).meta);
  }
  if (new_backend != old_backend)
    throw RuntimeError(ErrorKind::replace_refused,
                       "replacement of '" + request.name + "' refused, the old policy stays in force: the policy in force was "
                           "built by the " + old_backend + " backend and " + request.object_path + " by the " + new_backend +
                           " backend; a switch between backends cannot be atomic (unload and load instead)",
                       ENOTSUP);
  if (new_backend != "generic" && new_backend != "llvm")
    throw RuntimeError(ErrorKind::replace_refused,
                       "replacement of '" + request.name + "' refused: unknown backend '" + new_backend + "'", ENOTSUP);
  constexpr const char* k_pending = "pending-";
  for (const std::string& l : loaded.links)
    if (l.rfind(k_pending, 0) == 0)
      throw RuntimeError(ErrorKind::replace_refused,
                         "replacement of '" + request.name + "' refused: an interrupted replacement left the link " +
                             paths.link_pin(request.name, l) + " (`krsie-load unload " + request.name +
                             "` and load again to start clean)",
                         EEXIST);
  TargetRequest target_request = request.targets.value_or(TargetRequest{loaded.state.option_cgroups, loaded.state.node_wide});
  std::vector<TargetRecord> targets = resolve_targets(policy.meta, target_request);
  require_kernel();

  ReplaceResult result;
  step_done(steps.open_ms);
  result.name = request.name;
  result.enforce = request.enforce.value_or(policy.meta.mode == "enforce");
  result.targets = targets;
  PolicyMaps& maps = loaded.maps;
  const unsigned cur = maps.generation(), next = cur ^ 1u;
  result.from_generation = cur;
  result.to_generation = next;
  auto refused = [&](const std::string& why) {
    return RuntimeError(ErrorKind::replace_refused,
                        "replacement of '" + request.name + "' refused, the old policy stays in force: " + why, EINVAL);
  };

  std::vector<std::string> problems;
  PolicyMaps::GenerationKeys listed;
  try {
    listed = maps.list_generation_keys();
    // Capacity: the new rules must fit beside the rules in force.
    std::map<std::string, std::uint32_t> capacity;
    for (const MapAbi& m : generic_maps())
      if (m.sized_by_loader && maps.has(std::string(m.name)))
        capacity[std::string(m.name)] = maps.at(std::string(m.name)).info().max_entries;
    problems = check_fit(listed.counts(cur), entry_counts(policy), capacity);
    // Targets of the generation in force: those only the retired generation (`next`) still
    // marks are dropped by the purge below, before the new ones are added.
    std::set<std::uint64_t> in_force;
    for (const auto& [id, generations] : maps.targets())
      if ((generations >> cur) & 1u) in_force.insert(id);
    std::size_t fresh = 0;
    for (const TargetRecord& t : targets) fresh += !in_force.count(t.id);
    if (in_force.size() + fresh > maps.at("krsie_targets").info().max_entries)
      problems.push_back("krsie_targets: " + std::to_string(fresh) + " new target cgroups do not fit beside the " +
                         std::to_string(in_force.size()) + " in force");
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
  if (!problems.empty())
    throw refused("it does not fit the maps sized when the policy was loaded:\n  " + joined(problems, "\n  ") +
                  "\nload with a larger --headroom (after unload) to make room for bigger replacements");
  step_done(steps.purge_ms);
  // `next`'s entries rewritten and its exact paths resolved while the grace period still runs.
  PolicyMaps::PreparedGeneration prepared;
  try {
    prepared = maps.prepare_generation(policy, next);
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
  step_done(steps.rewrite_ms);
  // Nothing of `next` is touched before every program run that may read it has ended.
  auto t_wait = Clock::now();
  try {
    previous_runs->wait();
  } catch (const RuntimeError& e) {
    throw refused(std::string("cannot wait for the program runs of the previous policy: ") + e.what());
  }
  result.sync_ms = ms_since(t_wait);
  try {
    // The previous policy's entries (or leftovers of an interrupted replacement) live in the
    // generation not in force: clear them.
    // The programs remember path masks (krsie_path_memo) under the table epoch: `next`'s tables
    // change from here on, so what was remembered for them (when `next` was last in force) must
    // not be found again. Before the purge, after the wait: no run still reads `next`.
    krsie_config epoch = maps.config();
    epoch.table_epoch = next_table_epoch(epoch.table_epoch);
    maps.write_config(epoch);
    maps.purge_generation(next, listed);
    // Refreshed here even when no target left the map: this heals a configuration word that an
    // interrupted command left (the later target changes refresh only when keys change).
    if (!maps.drop_target_generation(next)) maps.refresh_target_levels();
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
  double purged_ms = 0;
  step_done(purged_ms);
  steps.purge_ms += purged_ms - result.sync_ms;

  // An LLVM replacement's links are pinned as pending-<program> until the switch, then take the
  // programs' names (the old code's links are removed first).
  auto new_pin = [&](const std::string& p) {
    return paths.link_pin(request.name, code_replacement ? k_pending + p : p);
  };

  const krsie_config before = maps.config();
  std::unique_ptr<BpfObject> extra;
  std::vector<BpfLink> new_links;
  std::vector<std::string> pinned;
  Rollback undo([&] {
    for (const std::string& p : pinned) unlink(new_pin(p).c_str());
    new_links.clear();
    attempt([&] { maps.write_config(before); });
    attempt([&] { maps.purge_generation(next); });
    attempt([&] { maps.drop_target_generation(next); });
  });
  try {
    if (!new_programs.empty()) {
      // Programs the old policy did not use (generic), or every program (LLVM: new code), loaded
      // from the new object against the pinned maps.
      extra = std::make_unique<BpfObject>(BpfObject::open_memory(request.name, policy.elf));
      // LLVM code decides only while the generation in force is the one it was loaded for.
      if (code_replacement) extra->set_rodata_u32(".rodata.krsie", 0, next);
      for (const std::string& m : extra->map_names()) {
        if (m.find('.') != std::string::npos) continue;  // internal maps belong to the new programs
        if (!maps.has(m)) throw RuntimeError("the new object has map " + m + ", which the loaded policy lacks");
        BpfMap want = extra->map(m);
        const MapInfo& have = maps.at(m).info();
        if (want.type() != have.type || want.key_size() != have.key_size || want.value_size() != have.value_size)
          throw RuntimeError("the new object's map " + m + " differs from the loaded one (template changed): unload and load instead");
        want.reuse_fd(maps.at(m).fd());
      }
      extra->prepare(new_programs, {});
      extra->load();
      if (!code_replacement && extra->code_digest() != loaded.state.template_digest)
        result.warnings.push_back("the new object's template code differs from the running one: programs already attached keep "
                                  "running the old code (unload and load to upgrade them)");
      for (const std::string& p : new_programs) new_links.push_back(extra->attach(p));
    }
    step_done(steps.programs_ms);
    maps.write_generation(prepared);
    result.entries_written = policy.records.size() + policy.meta.inode_paths.size();
    maps.add_targets(target_ids(targets), next);
    krsie_config config = maps.config();  // target_levels: widened by add_targets to both generations
    config.enforce = enforce_bits(before.enforce, next, result.enforce, false);
    maps.write_config(config);  // only the enforce word changes; the generation in force is untouched
    step_done(steps.write_ms);
    for (std::size_t i = 0; i < new_links.size(); ++i) {
      new_links[i].pin(new_pin(new_programs[i]));
      pinned.push_back(new_programs[i]);
    }
    if (staged) staged->commit(paths.state_dir(request.name) + "/" + object_file(next));
    else write_file_atomic(paths.state_dir(request.name) + "/" + object_file(next), policy.elf);
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
  step_done(steps.copy_ms);
  result.steps = steps;
  result.prepare_ms = ms_since(started) - result.sync_ms;

  // Publish: every entry of the new generation must be visible to a program run that sees the
  // new generation number. On x86 (TSO) the order of our stores is the order in which every CPU
  // sees them: the entries were stored by earlier bpf() calls of this thread than the switch's
  // (a migration between them drains the store buffer), and a program's loads are not reordered
  // with its earlier load of the generation word, so nothing is needed. On weakly ordered CPUs the
  // kernel's map updates carry no barrier that orders them before the switch for a reader:
  // a grace period does (RCU's guarantee: a program run that does not end before it ends began
  // after it began, and sees every store made before it). See docs/loader.md, step 5.
  auto t_publish = Clock::now();
#if !defined(__x86_64__) && !defined(__i386__)
  try {
    wait_for_running_programs();
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
#endif
  result.publish_ms = ms_since(t_publish);

  // The switch: one aligned word (krsie_config.generation) changes; every program run that
  // starts after it uses the new generation for all of its lookups.
  auto t_switch = Clock::now();
  krsie_config config = maps.config();
  config.generation = next;
  try {
    maps.write_config(config);
  } catch (const RuntimeError& e) {
    throw refused(e.what());
  }
  undo.dismiss();
  result.switch_ms = ms_since(t_switch);

  // Program runs that began before the switch may still read `cur`: its entries, target bits and
  // enforce bit stay until the next replacement, which purges them after a grace period begun
  // when it starts (above). Nothing here waits for them.
  auto t_cleanup = Clock::now();
  std::set<std::string> needed(policy.meta.programs.begin(), policy.meta.programs.end());
  for (const std::string& p : loaded.links) {
    // Generic: the hook is unused in the generation in force, the program already does nothing.
    // LLVM: every old program is old code, inactive since the switch.
    if (needed.count(p) && !code_replacement) continue;
    if (unlink(paths.link_pin(request.name, p).c_str()) == 0) {
      if (!needed.count(p)) result.detached.push_back(p);
    } else {
      result.warnings.push_back(describe_errno("detaching " + p, errno));
    }
  }
  if (code_replacement)
    for (const std::string& p : new_programs)
      if (rename(new_pin(p).c_str(), paths.link_pin(request.name, p).c_str()) != 0)
        result.warnings.push_back(describe_errno("renaming the link " + new_pin(p), errno));
  result.attached = new_programs;
  result.cleanup_ms = ms_since(t_cleanup);

  PolicyState state = loaded.state;
  state.replaced = now_rfc3339();
  ++state.replacements;
  state.targets = targets;
  state.objects[next] = object_file(next);
  state.sources[next] = absolute(request.object_path);
  if (code_replacement && extra) state.template_digest = extra->code_digest();
  state.backend = new_backend;
  if (request.targets) {
    state.option_cgroups = request.targets->cgroups;
    state.node_wide = request.targets->node_wide;
  }
  try {
    write_state(paths.state_dir(request.name), state);
  } catch (const RuntimeError& e) {
    result.warnings.push_back(std::string("the state file was not updated: ") + e.what());
  }
  result.total_ms = ms_since(started);
  return result;
}

// ---- unload, mode ---------------------------------------------------------------------------

namespace {

void unload_locked(const LoaderPaths& paths, const std::string& name) {
  std::string pins = paths.pin_dir(name), state_dir = paths.state_dir(name);
  // Links first: once they are gone nothing is enforced; then the maps and the state.
  std::string err;
  for (const std::string& l : list_dir(pins + "/links", false)) {
    std::string e = remove_tree(pins + "/links/" + l);
    if (err.empty()) err = e;
  }
  if (err.empty()) err = remove_tree(pins);
  std::string e2 = remove_tree(state_dir);
  if (err.empty()) err = e2;
  if (!err.empty()) throw RuntimeError("unloading '" + name + "' left something behind: " + err, EIO);
}

}  // namespace

void unload_policy(const LoaderPaths& paths, const std::string& name) {
  require_present(paths, name);
  SignalBlock no_signals;
  DirLock lock(paths.state_root);
  require_present(paths, name);  // again: another krsie-load may have unloaded it meanwhile
  unload_locked(paths, name);
}

std::vector<std::string> unload_all(const LoaderPaths& paths) {
  SignalBlock no_signals;
  std::set<std::string> names;
  for (const std::string& n : list_dir(paths.bpffs_root, true)) names.insert(n);
  for (const std::string& n : list_dir(paths.state_root, true)) names.insert(n);
  if (names.empty()) return {};
  DirLock lock(paths.state_root);
  std::vector<std::string> done;
  std::string first_error;
  for (const std::string& n : names) {
    try {
      unload_locked(paths, n);
      done.push_back(n);
    } catch (const RuntimeError& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw RuntimeError(first_error, EIO);
  return done;
}

bool set_policy_mode(const LoaderPaths& paths, const std::string& name, bool enforce) {
  require_present(paths, name);
  SignalBlock no_signals;
  DirLock lock(paths.state_root);
  Opened loaded = open_loaded(paths, name);
  krsie_config c = loaded.maps.config();
  bool was = loaded.maps.enforcing(c.generation);
  c.enforce = enforce ? 3u : 0u;  // one word: both generations agree outside a replacement
  loaded.maps.write_config(c);
  return was;
}

// ---- status -------------------------------------------------------------------------------

PolicyStatus policy_status(const LoaderPaths& paths, const std::string& name) {
  PolicyStatus s;
  s.name = name;
  s.pin_dir = paths.pin_dir(name);
  s.state_dir = paths.state_dir(name);
  Opened o = open_loaded(paths, name);
  s.created = o.state.created;
  s.replaced = o.state.replaced;
  s.replacements = o.state.replacements;
  krsie_config c = o.maps.config();
  s.generation = c.generation & 1;
  s.enforce = o.maps.enforcing(s.generation);
  s.targets = o.state.targets;
  for (const std::string& l : o.links)
    if (l != KRSIE_FORGET_PROGRAM) s.hooks.push_back(program_hook(l));
  s.source = o.state.sources[s.generation];
  try {
    // The rule texts too: `events` needs them, and this is where an unreadable JSON shows.
    PolicyObject obj = PolicyObject::parse(read_kept_object(s.state_dir + "/" + object_file(s.generation)), RuleText::keep);
    s.rules = obj.meta.rule_count;
  } catch (const RuntimeError& e) {
    s.problems.push_back(std::string("metadata of the rules in force is unreadable: ") + e.what());
  }
  for (const auto& [hook, conf] : o.maps.hooks(s.generation)) s.rule_entries[hook_name(hook)] = conf.nrules;
  s.counters = o.maps.counters();
  auto in_map = o.maps.targets();
  for (const TargetRecord& t : s.targets) {
    auto it = in_map.find(t.id);
    if (it == in_map.end() || !((it->second >> s.generation) & 1))
      s.problems.push_back("target " + t.path + " (id " + std::to_string(t.id) + ") is missing from krsie_targets");
    struct stat st{};
    if (stat(t.path.c_str(), &st) != 0) {
      s.problems.push_back("target cgroup " + t.path + " no longer exists");
      continue;
    }
    try {
      if (cgroup_id(t.path) != t.id)
        s.problems.push_back("target cgroup " + t.path + " was recreated (new id): the policy confines the old one; "
                             "replace the policy to re-resolve it");
    } catch (const RuntimeError& e) {
      s.problems.push_back(e.what());
    }
  }
  auto in_force = o.maps.count_generation(s.generation);
  for (const auto& [m, handle] : o.maps.all()) {
    const MapAbi* abi = map_abi(m);
    if (!abi || !abi->sized_by_loader) continue;
    std::uint32_t used = in_force.count(m) ? in_force[m] : 0;
    s.capacity[m] = {used, handle.info().max_entries};
  }
  if (s.hooks.empty()) s.problems.push_back("no program is attached");
  return s;
}

std::vector<PolicyStatus> list_policies(const LoaderPaths& paths) {
  std::set<std::string> names;
  for (const std::string& n : list_dir(paths.bpffs_root, true)) names.insert(n);
  for (const std::string& n : list_dir(paths.state_root, true)) names.insert(n);
  std::vector<PolicyStatus> out;
  for (const std::string& n : names) {
    if (!valid_policy_name(n)) {
      PolicyStatus s;
      s.name = n;
      s.problems.push_back("left over by an interrupted krsie-load: `krsie-load unload --all` removes it");
      out.push_back(std::move(s));
      continue;
    }
    try {
      out.push_back(policy_status(paths, n));
    } catch (const RuntimeError& e) {
      PolicyStatus s;
      s.name = n;
      s.pin_dir = paths.pin_dir(n);
      s.state_dir = paths.state_dir(n);
      s.problems.push_back(e.what());
      out.push_back(std::move(s));
    }
  }
  return out;
}

namespace {

nlohmann::ordered_json status_object(const PolicyStatus& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["status"] = s.problems.empty() ? "ok" : "broken";
  j["problems"] = s.problems;
  j["mode"] = s.enforce ? "enforce" : "audit";
  j["generation"] = s.generation;
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (const TargetRecord& t : s.targets) targets.push_back({{"path", t.path}, {"id", t.id}, {"origin", t.origin}});
  j["targets"] = targets;
  j["hooks"] = s.hooks;
  j["rules"] = s.rules;
  j["rule_entries"] = s.rule_entries;
  j["counters"] = {{"allow", s.counters.allow},   {"deny", s.counters.deny},
                   {"audit", s.counters.audit},   {"kill", s.counters.kill},
                   {"events", s.counters.events}, {"events_dropped", s.counters.events_dropped}};
  j["created"] = s.created;
  j["replaced"] = s.replaced;
  j["replacements"] = s.replacements;
  j["source"] = s.source;
  j["pins"] = s.pin_dir;
  j["state"] = s.state_dir;
  nlohmann::ordered_json cap = nlohmann::ordered_json::object();
  for (const auto& [m, uc] : s.capacity) cap[m] = {{"used", uc.first}, {"max", uc.second}};
  j["capacity"] = cap;
  return j;
}

}  // namespace

std::string status_json(const std::vector<PolicyStatus>& policies, bool array) {
  if (!array && policies.size() == 1) return status_object(policies[0]).dump() + "\n";
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const PolicyStatus& s : policies) all.push_back(status_object(s));
  return all.dump() + "\n";
}

std::string status_table(const std::vector<PolicyStatus>& policies) {
  if (policies.empty()) return "no policies loaded\n";
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "MODE", "GEN", "TARGETS", "HOOKS", "RULES", "DENY", "AUDIT", "KILL", "EVENTS", "DROPPED", "STATUS"}};
  for (const PolicyStatus& s : policies) {
    bool ok = s.problems.empty();
    std::string targets = s.targets.size() == 1 ? s.targets[0].path : std::to_string(s.targets.size());
    rows.push_back({s.name, s.enforce ? "enforce" : "audit", std::to_string(s.generation), targets,
                    std::to_string(s.hooks.size()), std::to_string(s.rules), std::to_string(s.counters.deny),
                    std::to_string(s.counters.audit), std::to_string(s.counters.kill), std::to_string(s.counters.events),
                    std::to_string(s.counters.events_dropped), ok ? "ok" : "BROKEN (krsie-load show " + s.name + ")"});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], std::min<std::size_t>(r[i].size(), 40));
  std::ostringstream out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      if (i + 1 < r.size()) cell.resize(std::max(width[i], cell.size()), ' ');
      line += (i ? "  " : "") + cell;
    }
    out << line << "\n";
  }
  return out.str();
}

std::string status_details(const PolicyStatus& s) {
  std::ostringstream out;
  out << "policy:       " << s.name << (s.problems.empty() ? "" : "  (BROKEN)") << "\n";
  for (const std::string& p : s.problems) out << "problem:      " << p << "\n";
  out << "mode:         " << (s.enforce ? "enforce" : "audit") << "\n";
  out << "generation:   " << s.generation << " (replaced " << s.replacements << " times"
      << (s.replaced.empty() ? "" : ", last " + s.replaced) << ")\n";
  out << "loaded:       " << s.created << " from " << s.source << "\n";
  for (const TargetRecord& t : s.targets)
    out << "target:       " << t.path << " (cgroup id " << t.id << ", " << t.origin << ")\n";
  out << "hooks:        " << (s.hooks.empty() ? "(none)" : joined(s.hooks, ", ")) << "\n";
  out << "rules:        " << s.rules;
  if (!s.rule_entries.empty()) {
    std::vector<std::string> parts;
    for (const auto& [h, n] : s.rule_entries) parts.push_back(h + "=" + std::to_string(n));
    out << " (table entries: " << joined(parts, " ") << ")";
  }
  out << "\n";
  out << "decisions:    allow " << s.counters.allow << ", deny " << s.counters.deny << ", audit " << s.counters.audit
      << ", kill " << s.counters.kill << "\n";
  out << "events:       " << s.counters.events << " reported, " << s.counters.events_dropped << " dropped\n";
  for (const auto& [m, uc] : s.capacity) out << "capacity:     " << m << " " << uc.first << "/" << uc.second << "\n";
  out << "pins:         " << s.pin_dir << "\n";
  out << "state:        " << s.state_dir << "\n";
  return out.str();
}

namespace {

nlohmann::ordered_json targets_json(const std::vector<TargetRecord>& targets) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const TargetRecord& t : targets) j.push_back({{"path", t.path}, {"id", t.id}, {"origin", t.origin}});
  return j;
}

std::string targets_text(const std::vector<TargetRecord>& targets) {
  std::vector<std::string> parts;
  for (const TargetRecord& t : targets) parts.push_back(t.path);
  return joined(parts, ", ");
}

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

std::string load_result_json(const LoadResult& r) {
  nlohmann::ordered_json j;
  j["name"] = r.name;
  j["mode"] = r.enforce ? "enforce" : "audit";
  j["generation"] = 0;
  j["targets"] = targets_json(r.targets);
  j["programs"] = r.programs;
  j["map_sizes"] = r.map_sizes;
  j["pins"] = r.pin_dir;
  j["state"] = r.state_dir;
  j["timings_ms"] = {{"check", r.check_ms}, {"verify", r.verify_ms}, {"fill", r.fill_ms},
                     {"attach", r.attach_ms}, {"pin", r.pin_ms}, {"total", r.milliseconds}};
  return j.dump() + "\n";
}

std::string load_result_text(const LoadResult& r) {
  std::vector<std::string> hooks;
  for (const std::string& p : r.programs)
    if (p != KRSIE_FORGET_PROGRAM) hooks.push_back(program_hook(p));
  return "loaded policy '" + r.name + "' (" + (r.enforce ? "enforce" : "audit") + ") on " + targets_text(r.targets) +
         "\nhooks: " + joined(hooks, ", ") + "\npins: " + r.pin_dir + "  state: " + r.state_dir +
         "\ntimings (ms): check " + fixed(r.check_ms) + ", load+verify " + fixed(r.verify_ms) + ", fill " +
         fixed(r.fill_ms) + ", attach " + fixed(r.attach_ms) + ", pin " + fixed(r.pin_ms) + ", total " +
         fixed(r.milliseconds) + "\n";
}

std::string replace_result_json(const ReplaceResult& r) {
  nlohmann::ordered_json j;
  j["name"] = r.name;
  j["mode"] = r.enforce ? "enforce" : "audit";
  j["from_generation"] = r.from_generation;
  j["to_generation"] = r.to_generation;
  j["timings_ms"] = {{"prepare", r.prepare_ms}, {"publish", r.publish_ms}, {"switch", r.switch_ms},
                     {"sync", r.sync_ms},       {"cleanup", r.cleanup_ms}, {"total", r.total_ms}};
  j["prepare_steps_ms"] = {{"read", r.steps.read_ms},         {"open", r.steps.open_ms},
                           {"purge", r.steps.purge_ms},       {"rewrite", r.steps.rewrite_ms},
                           {"programs", r.steps.programs_ms},
                           {"write", r.steps.write_ms},       {"copy", r.steps.copy_ms}};
  j["targets"] = targets_json(r.targets);
  j["attached"] = r.attached;
  j["detached"] = r.detached;
  j["entries_written"] = r.entries_written;
  j["warnings"] = r.warnings;
  return j.dump() + "\n";
}

std::string replace_result_text(const ReplaceResult& r) {
  std::string out = "replaced policy '" + r.name + "' (" + (r.enforce ? "enforce" : "audit") + "): generation " +
                    std::to_string(r.from_generation) + " -> " + std::to_string(r.to_generation) + " on " +
                    targets_text(r.targets) + "\n";
  if (!r.attached.empty()) out += "attached: " + joined(r.attached, ", ") + "\n";
  if (!r.detached.empty()) out += "detached: " + joined(r.detached, ", ") + "\n";
  out += "timings (ms): prepare " + fixed(r.prepare_ms) + ", wait for the previous policy's program runs " +
         fixed(r.sync_ms) + ", publish " + fixed(r.publish_ms) + ", switch " + fixed(r.switch_ms) + ", cleanup " +
         fixed(r.cleanup_ms) + ", total " + fixed(r.total_ms) + "\n";
  return out;
}

}  // namespace krsie::runtime
