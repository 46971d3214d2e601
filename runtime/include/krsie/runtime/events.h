#pragma once
// Events of loaded policies: decoding krsie_event records with the policy's metadata (rule
// sources, messages, tags) and reading the pinned krsie_events ring buffers.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "krsie/runtime/policy.h"
#include "krsie/runtime/state.h"

struct ring_buffer;

namespace krsie::runtime {

// One event as an operator reads it. JSON field names are stable (docs/loader.md).
struct EventRecord {
  std::string time;           // RFC 3339 UTC, from the kernel's monotonic time stamp
  std::uint64_t ktime_ns = 0;  // the stamp itself (CLOCK_MONOTONIC)
  std::string policy;
  std::optional<std::uint32_t> rule;  // rule id; nullopt for a posture or fail-closed decision
  std::string reason;                 // "rule", "posture" or "path-too-deep"
  std::string source;                 // "file:line" of the rule, "" when unknown
  std::string message, tag;
  std::string decision;  // allow, deny, audit, kill
  bool enforced = false;
  std::string hook;
  unsigned generation = 0;
  std::uint32_t pid = 0, tid = 0, uid = 0;
  std::string comm;
  std::string cgroup;  // path when resolvable, else the id
  std::uint64_t cgroup_id = 0;
  std::string object;   // summary: leaf name, address:port, or the hook's first values
  std::string name;     // leaf name of the file object ("" when none)
  std::string address;  // object address ("" when none)
  std::optional<std::uint16_t> port;
  std::uint64_t dev = 0, ino = 0;
};

// Maps a cgroup id to a path, remembering answers.
class CgroupNames {
 public:
  std::string name(std::uint64_t id);

 private:
  std::map<std::uint64_t, std::string> cache_;
};

// Decodes one ring buffer record. `meta` is the metadata of the record's generation (may be
// null); `realtime_offset_ns` converts the monotonic stamp to wall-clock time. Throws
// RuntimeError for a record of the wrong size.
EventRecord decode_event(std::span<const std::uint8_t> record, const std::string& policy, const PolicyMetadata* meta,
                         CgroupNames& cgroups, std::int64_t realtime_offset_ns);

std::string event_json(const EventRecord& e);  // one line, no newline
std::string event_text(const EventRecord& e);  // one line, no newline

// CLOCK_REALTIME - CLOCK_MONOTONIC, in ns.
std::int64_t realtime_offset_ns();

// Reads the pinned event ring buffers of every loaded policy, or of one.
class EventReader {
 public:
  using Sink = std::function<void(const EventRecord&)>;
  EventReader(const LoaderPaths& paths, const std::optional<std::string>& policy, Sink sink);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  std::size_t sources() const { return sources_.size(); }
  // Handles every record available now; returns how many.
  int drain();
  // Waits up to timeout_ms for records; returns how many were handled (0 on timeout or signal).
  int poll(int timeout_ms);

 private:
  struct Source {
    EventReader* reader;
    std::string policy;
    Fd ring;
    std::optional<PolicyMetadata> meta[2];
  };
  static int on_record(void* ctx, void* data, std::size_t size);
  std::vector<std::unique_ptr<Source>> sources_;
  ring_buffer* rb_ = nullptr;
  Sink sink_;
  CgroupNames cgroups_;
  std::int64_t offset_ns_;
};

}  // namespace krsie::runtime
