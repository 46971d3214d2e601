#pragma once
// Where krsie-load keeps a loaded policy (docs/loader.md, "pins and state"):
//
//   <bpffs root>/<name>/maps/<map>     every map of the policy's object, pinned
//   <bpffs root>/<name>/links/<prog>   one BPF link per attached program, pinned (attached until
//                                      the pin is removed)
//   <state root>/<name>/state.json     what bpffs cannot hold: targets, options, history
//   <state root>/<name>/policy.g0.o    the policy object of rule generation 0 (and g1: of
//   <state root>/<name>/policy.g1.o    generation 1), for metadata: rule sources, messages
//
// Defaults: /sys/fs/bpf/krsie and /run/krsie. The generation in force is read from the pinned
// krsie_config map, never from state.json, so a crash between the switch and the state update
// cannot make the two disagree about which rules are in force.

#include <cstdint>
#include <memory>
#include <span>
#include <optional>
#include <string>
#include <vector>

#include "krsie/runtime/maps.h"

namespace krsie::runtime {

struct LoaderPaths {
  std::string bpffs_root = "/sys/fs/bpf/krsie";
  std::string state_root = "/run/krsie";

  std::string pin_dir(const std::string& name) const { return bpffs_root + "/" + name; }
  std::string map_pin(const std::string& name, const std::string& map) const { return pin_dir(name) + "/maps/" + map; }
  std::string link_pin(const std::string& name, const std::string& prog) const { return pin_dir(name) + "/links/" + prog; }
  std::string state_dir(const std::string& name) const { return state_root + "/" + name; }
};

// A cgroup a policy confines, and why.
struct TargetRecord {
  std::string path;
  std::uint64_t id = 0;
  std::string origin;  // "policy" (named by the policy), "option" (--cgroup), "node-wide"
};

struct PolicyState {
  std::string name;
  std::string created;   // RFC 3339, UTC
  std::string replaced;  // last replacement, "" if never
  unsigned replacements = 0;
  unsigned headroom = 0;
  std::vector<std::string> option_cgroups;  // --cgroup given at load (kept by replace)
  bool node_wide = false;                   // --node-wide given at load (kept by replace)
  std::vector<TargetRecord> targets;        // of the generation in force
  std::string objects[2];                   // policy object file (in the state dir) per generation
  std::string sources[2];                   // where it was loaded from
  std::string template_digest;              // code digest of the template whose programs run
  std::string backend;                      // backend of the object in force ("": not recorded,
                                            // read it from the object)

  std::string to_json() const;
  // Throws RuntimeError naming `where` when the text is not a state file.
  static PolicyState from_json(const std::string& text, const std::string& where);
};

// Policy names become directory names: letters, digits, '-', '_' (bpffs refuses dots), at most
// 64 bytes.
bool valid_policy_name(const std::string& name);

// Reads / atomically writes (temporary file + rename) <dir>/state.json.
PolicyState read_state(const std::string& state_dir);
void write_state(const std::string& state_dir, const PolicyState& state);

// Copies `bytes` to `path` atomically.
void write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes);

// A copy of a file, made in a directory krsie-load owns and mapped read-only, so that what the
// loader parses is byte for byte what it keeps, whatever later happens to the source (`replace`
// reads the new object from its copy in the policy's state directory; docs/loader.md). The
// kernel copies (copy_file_range: a reflink where the file system shares extents; else sendfile;
// else read and write) and the parse touches only the pages it reads. The staging file is removed
// at destruction unless commit() renamed it into place; the mapping lives as long as mapping().
class StagedCopy {
 public:
  // Throws RuntimeError(bad_object) when `source` cannot be read ("cannot open SOURCE: ..."), a
  // generic RuntimeError when the copy cannot be written.
  StagedCopy(const std::string& source, const std::string& staging_path);
  StagedCopy(const StagedCopy&) = delete;
  StagedCopy& operator=(const StagedCopy&) = delete;
  ~StagedCopy();
  std::span<const std::uint8_t> bytes() const { return bytes_; }
  // Owns the mapping behind bytes().
  std::shared_ptr<const void> mapping() const { return mapping_; }
  // Renames the copy to `path`, replacing what was there atomically.
  void commit(const std::string& path);

 private:
  std::string staging_;
  std::shared_ptr<const void> mapping_;
  std::span<const std::uint8_t> bytes_;
  bool committed_ = false;
};
std::vector<std::uint8_t> read_whole_file(const std::string& path, const char* failure = "cannot read");
// read_whole_file of an object kept in a state directory, by a command that does not hold the
// lock (`show`, `events`): a replacement may exchange the file away and a later one overwrite it
// in place (StagedCopy's spare) while it is read. Read again (up to 5 times) when the file's
// identity, size or times changed during the read; throws when it never held still.
std::vector<std::uint8_t> read_kept_object(const std::string& path);

// A file mapped read-only for as long as the object lives: bytes() is empty when the file cannot
// be opened or mapped, or is empty (callers that need it report that themselves).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  std::shared_ptr<const void> mapping_;
  std::span<const std::uint8_t> bytes_;
};

// Names of the subdirectories of `dir` (sorted; none when `dir` does not exist).
std::vector<std::string> list_dir(const std::string& dir, bool directories_only);

// Removes `path` and everything below it (files, pins, directories); missing is fine. Returns
// the first error met, "" when everything went.
std::string remove_tree(const std::string& path);

// mkdir -p; returns the directories it created, outermost first.
std::vector<std::string> make_dirs(const std::string& path, unsigned mode = 0700);

// Holds an exclusive flock on a directory (created if needed) for the lifetime of the object:
// krsie-load commands that change a policy serialize on the state root.
class DirLock {
 public:
  explicit DirLock(const std::string& dir);

 private:
  Fd fd_;
};

// Makes sure `root` can hold pins: it (or the nearest existing ancestor) must be on a bpf
// filesystem; /sys/fs/bpf is mounted (mount -t bpf) when it is not. Throws with the fix.
void ensure_bpffs(const std::string& root);

// Current time as RFC 3339 UTC with milliseconds.
std::string now_rfc3339();

}  // namespace krsie::runtime
