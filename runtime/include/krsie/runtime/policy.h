#pragma once
// A policy.o written by krsiec (either backend): its metadata, and loading it into the kernel.
// Format: docs/policy-object.md. Loading is all-or-nothing: on any error nothing stays loaded
// or attached (every kernel object is owned by RAII handles that the error unwinds).

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "krsie/runtime/bpf.h"
#include "krsie/runtime/policy_maps.h"

namespace krsie::runtime {

struct RuleMetadata {
  std::uint32_t id = 0;
  std::string hook;
  std::vector<std::string> locations;  // "file:line:col"
  std::string source;                  // the first location's source line
  std::string message;
  std::string tag;
};

struct PolicyMetadata {
  // The `format` of the object's JSON metadata: 1 ("krsie-policy": the JSON holds everything the
  // loader needs) or 2 ("krsie-policy-2": the loader reads the loader table, .krsie.load).
  int format = 0;
  std::string name;
  std::string mode;                    // "enforce" | "audit"
  std::string backend;
  std::string compiler;
  int abi = 0;
  std::vector<std::string> cgroup_targets;  // cgroup v2 paths named by the policy
  std::size_t pod_targets = 0;              // selectors a node agent resolves (not krsie-load)
  std::vector<std::string> programs;        // programs to load and attach
  std::map<std::string, std::uint32_t> map_sizes;  // from the JSON only (the loader plans its own)
  struct InodePath {
    std::uint32_t table;
    std::uint32_t bit;
    std::string_view path;  // into what inode_path_storage keeps alive (not NUL-terminated)
  };
  std::vector<InodePath> inode_paths;  // exact rule paths whose inodes are resolved at load
  // Keeps the texts of inode_paths alive, shared by copies: one allocation they were copied into,
  // or the policy object's bytes they view (~14,000 paths at 10,000 rules).
  std::shared_ptr<const void> inode_path_storage;
  // Sets inode_paths to these, their texts copied into one allocation (`paths` may view anything
  // alive during the call).
  void set_inode_paths(std::span<const InodePath> paths);
  // Sets inode_paths to these views, which `storage` keeps alive (no copy).
  void borrow_inode_paths(std::vector<InodePath> paths, std::shared_ptr<const void> storage);
  void set_inode_paths(const std::vector<std::tuple<std::uint32_t, std::uint32_t, std::string>>& paths);
  std::size_t rule_count = 0;          // entries of the rule table
  // The rule table as the JSON has it: texts only with RuleText::keep; empty when the metadata came
  // from the loader table alone (PolicyObject::parse with RuleText::skip of a format-2 object).
  std::vector<RuleMetadata> rules;
  const RuleMetadata* rule(std::uint32_t id) const;
};

// Whether the rule table's texts (locations, source, message, tag) are read when an object is
// read. Loading and replacing do not need them (events and `show` read the state directory's
// copy). `skip` of an object with a loader table (format 2) reads the table and not the JSON at
// all; of an older object, it checks the JSON as `keep` does but keeps only each rule's id and hook.
enum class RuleText { keep, skip };

struct MapAbi;

// One map record, owned (tests, and the rewriting API of generation.h).
struct MapRecord {
  std::string map;
  std::vector<std::uint8_t> key;
  std::vector<std::uint8_t> value;
};

// One record of a parsed object's .krsie.maps section: its map (never null) and its key and value
// as views into PolicyObject::elf, sized as the ABI says (checked when the object is parsed).
struct RecordView {
  const MapAbi* abi;
  std::span<const std::uint8_t> key;
  std::span<const std::uint8_t> value;
};

// The parts of a policy.o: the ELF, its metadata and its map contents. Throws RuntimeError
// (ErrorKind::bad_object) with a precise reason for anything malformed: not ELF, truncated,
// missing or corrupt sections, wrong ABI, records that do not fit the ABI, a template without the
// programs or maps the policy names. Nothing here touches the kernel.
struct PolicyObject {
  std::span<const std::uint8_t> elf;    // the object's bytes
  std::shared_ptr<const void> storage;  // keeps `elf` (and the records' views into it) alive
  PolicyMetadata meta;
  std::vector<RecordView> records;
  static PolicyObject parse(std::vector<std::uint8_t> bytes, RuleText rule_text = RuleText::keep);
  // The same on bytes that `storage` keeps alive (a StagedCopy's mapping, state.h).
  static PolicyObject parse(std::shared_ptr<const void> storage, std::span<const std::uint8_t> bytes,
                            RuleText rule_text = RuleText::keep);
  static PolicyObject read_file(const std::string& path, RuleText rule_text = RuleText::keep);

  // Opens the embedded template with libbpf (no kernel involved) and checks that it has every
  // program the policy names and every map its records fill, with the ABI's key/value sizes.
  void check_template() const;
  // True when `other` (another policy object) embeds the same template: every section but the
  // .krsie.* ones is the same in both, in the same order (name, type, flags, link, info,
  // alignment, entry size, contents), so libbpf reads the same programs, maps and BTF from both.
  bool same_template(std::span<const std::uint8_t> other) const;
  // BpfObject::code_digest() of the embedded template.
  std::string template_digest() const;
  // The krsie_config record the compiler wrote (events_per_sec), or defaults.
  krsie_config compiled_config() const;
};

// A policy loaded into the kernel by this process (no pins): programs verified, maps filled with
// rule generation 0, not yet attached. The guest test driver uses it; krsie-load uses loader.h.
class LoadedPolicy {
 public:
  // Opens, sizes maps for one generation, loads only the policy's programs, fills the maps, and
  // resolves the inodes of exact rule paths (so other names of those files, hard links and bind
  // mounts, match too).
  static LoadedPolicy load(const PolicyObject& policy);

  // Confines the cgroup with this id (and its descendants).
  void add_target(std::uint64_t cgroup_id);
  // Sets enforce (true) or audit (false) mode.
  void set_enforce(bool enforce);
  // Attaches every program of the policy; on failure nothing stays attached.
  void attach();
  void detach() { links_.clear(); }

  BpfObject& object() { return *object_; }
  PolicyMaps& maps() { return maps_; }
  const PolicyMetadata& meta() const { return meta_; }

 private:
  LoadedPolicy(std::unique_ptr<BpfObject> object, PolicyMetadata meta) : object_(std::move(object)), meta_(std::move(meta)) {}
  std::unique_ptr<BpfObject> object_;
  PolicyMetadata meta_;
  PolicyMaps maps_;
  std::vector<BpfLink> links_;
};

}  // namespace krsie::runtime
