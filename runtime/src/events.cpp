#include "krsie/runtime/events.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "krsie/runtime/cgroup.h"
#include "krsie/runtime/error.h"
#include "krsie/runtime/loader.h"
#include "krsie_abi.h"

namespace krsie::runtime {

namespace {

std::string c_string(const char* s, std::size_t max) { return std::string(s, strnlen(s, max)); }

std::string rfc3339_ns(std::int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
  return buf;
}

// "file:line:col" -> "file:line".
std::string file_line(const std::string& location) {
  auto last = location.rfind(':');
  if (last == std::string::npos) return location;
  auto prev = location.rfind(':', last - 1);
  if (prev == std::string::npos) return location;
  return location.substr(0, last);
}

std::string hook_values(std::uint32_t hook, const __u64* f) {
  auto n = [](std::uint64_t v) { return std::to_string(static_cast<std::int64_t>(v)); };
  switch (hook) {
    case KRSIE_HOOK_CAPABLE: return "cap=" + n(f[0]);
    case KRSIE_HOOK_TASK_FIX_SETUID: return "uid=" + n(f[0]) + " euid=" + n(f[1]);
    case KRSIE_HOOK_TASK_FIX_SETGID: return "gid=" + n(f[0]) + " egid=" + n(f[1]);
    case KRSIE_HOOK_SOCKET_CREATE: return "family=" + n(f[0]) + " type=" + n(f[1]) + " protocol=" + n(f[2]);
    case KRSIE_HOOK_SOCKET_LISTEN:
    case KRSIE_HOOK_SOCKET_ACCEPT:
    case KRSIE_HOOK_SOCKET_SENDMSG: return "family=" + n(f[0]) + " port=" + n(f[3]);
    case KRSIE_HOOK_PTRACE_ACCESS_CHECK:
    case KRSIE_HOOK_PTRACE_TRACEME: return "pid=" + n(f[0]);
    case KRSIE_HOOK_TASK_KILL: return "sig=" + n(f[0]) + " pid=" + n(f[1]);
    case KRSIE_HOOK_KERNEL_LOAD_DATA: return "id=" + n(f[0]);
    case KRSIE_HOOK_KERNEL_READ_FILE: return "id=" + n(f[1]);
    case KRSIE_HOOK_BPF: return "cmd=" + n(f[0]);
    default: return "";
  }
}

}  // namespace

std::string CgroupNames::name(std::uint64_t id) {
  auto it = cache_.find(id);
  if (it != cache_.end()) return it->second;
  std::string n = cgroup_path(id).value_or(std::to_string(id));
  cache_.emplace(id, n);
  return n;
}

std::int64_t realtime_offset_ns() {
  timespec rt{}, mono{};
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  return (static_cast<std::int64_t>(rt.tv_sec) - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);
}

EventRecord decode_event(std::span<const std::uint8_t> record, const std::string& policy, const PolicyMetadata* meta,
                         CgroupNames& cgroups, std::int64_t offset_ns) {
  if (record.size() < sizeof(krsie_event))
    throw RuntimeError("event record of " + std::to_string(record.size()) + " bytes, expected " +
                           std::to_string(sizeof(krsie_event)),
                       EINVAL);
  krsie_event ev;
  std::memcpy(&ev, record.data(), sizeof ev);
  static const char* decisions[] = {"allow", "deny", "audit", "kill"};
  EventRecord e;
  e.ktime_ns = ev.time_ns;
  e.time = rfc3339_ns(static_cast<std::int64_t>(ev.time_ns) + offset_ns);
  e.policy = policy;
  e.decision = decisions[ev.decision & 3];
  e.enforced = ev.enforced != 0;
  e.hook = hook_name(ev.hook);
  e.generation = ev.generation & 1;
  e.pid = ev.tgid;
  e.tid = ev.pid;
  e.uid = ev.uid;
  e.comm = c_string(ev.comm, sizeof ev.comm);
  e.cgroup_id = ev.cgroup_id;
  e.cgroup = cgroups.name(ev.cgroup_id);
  if (ev.rule_id == 0xffffffffu) {
    e.reason = "posture";
  } else if (ev.rule_id == KRSIE_RULE_PATH_TOO_DEEP) {
    e.reason = "path-too-deep";
  } else {
    e.reason = "rule";
    e.rule = ev.rule_id;
    if (const RuleMetadata* r = meta ? meta->rule(ev.rule_id) : nullptr) {
      if (!r->locations.empty()) e.source = file_line(r->locations.front());
      e.message = r->message;
      e.tag = r->tag;
    }
  }
  e.name = c_string(ev.name, sizeof ev.name);
  e.dev = ev.inode.dev;
  e.ino = ev.inode.ino;
  if (ev.family == 2 || ev.family == 10) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(ev.family == 2 ? AF_INET : AF_INET6, ev.addr, text, sizeof text);
    e.address = text;
    e.port = ev.port;
    e.object = ev.family == 2 ? e.address + ":" + std::to_string(ev.port) : "[" + e.address + "]:" + std::to_string(ev.port);
  } else if (!e.name.empty()) {
    e.object = e.name;
  } else {
    e.object = hook_values(ev.hook, ev.fields);
  }
  return e;
}

std::string event_json(const EventRecord& e) {
  nlohmann::ordered_json j;
  j["time"] = e.time;
  j["ktime_ns"] = e.ktime_ns;
  j["policy"] = e.policy;
  j["rule"] = e.rule ? nlohmann::ordered_json(*e.rule) : nlohmann::ordered_json(nullptr);
  j["reason"] = e.reason;
  j["source"] = e.source;
  j["message"] = e.message;
  j["tag"] = e.tag;
  j["decision"] = e.decision;
  j["enforced"] = e.enforced;
  j["hook"] = e.hook;
  j["generation"] = e.generation;
  j["pid"] = e.pid;
  j["tid"] = e.tid;
  j["uid"] = e.uid;
  j["comm"] = e.comm;
  j["cgroup"] = e.cgroup;
  j["cgroup_id"] = e.cgroup_id;
  j["object"] = e.object;
  j["name"] = e.name;
  j["address"] = e.address;
  j["port"] = e.port ? nlohmann::ordered_json(*e.port) : nlohmann::ordered_json(nullptr);
  j["ino"] = e.ino;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string event_text(const EventRecord& e) {
  std::string decision = e.decision;
  for (char& c : decision) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!e.enforced && (e.decision == "deny" || e.decision == "kill")) decision += " (audit only)";
  std::string line = e.time + " " + e.policy + " " + decision + " " + e.hook;
  if (!e.object.empty()) line += " " + e.object;
  line += " by " + e.comm + "[" + std::to_string(e.pid) + "] uid=" + std::to_string(e.uid) + " in " + e.cgroup;
  if (e.rule) {
    line += ": rule " + std::to_string(*e.rule);
    if (!e.source.empty()) line += " at " + e.source;
  } else {
    line += e.reason == "posture" ? ": the hook's default (no rule matched)" : ": path too deep to check (fail closed)";
  }
  if (!e.message.empty()) line += " \"" + e.message + "\"";
  if (!e.tag.empty()) line += " [" + e.tag + "]";
  return line;
}

EventReader::EventReader(const LoaderPaths& paths, const std::optional<std::string>& policy, Sink sink)
    : sink_(std::move(sink)), offset_ns_(realtime_offset_ns()) {
  std::vector<std::string> names;
  if (policy) {
    if (!valid_policy_name(*policy)) throw RuntimeError(ErrorKind::usage, "'" + *policy + "' is not a policy name", EINVAL);
    if (list_dir(paths.pin_dir(*policy), false).empty())
      throw RuntimeError(ErrorKind::not_loaded, "no policy named '" + *policy + "' is loaded (see krsie-load list)", ENOENT);
    names.push_back(*policy);
  } else {
    for (const std::string& n : list_dir(paths.bpffs_root, true))
      if (valid_policy_name(n)) names.push_back(n);
  }
  for (const std::string& n : names) {
    std::string pin = paths.map_pin(n, "krsie_events");
    int fd = bpf_obj_get(pin.c_str());
    if (fd < 0) {
      int err = errno;
      if (policy) throw RuntimeError(describe_errno("opening " + pin, err), err);
      continue;  // a broken policy: `list` reports it
    }
    auto src = std::make_unique<Source>();
    src->reader = this;
    src->policy = n;
    src->ring = Fd(fd);
    try {
      PolicyState state = read_state(paths.state_dir(n));
      for (unsigned g = 0; g < 2; ++g) {
        if (state.objects[g].empty()) continue;
        try {
          src->meta[g] = PolicyObject::parse(read_kept_object(paths.state_dir(n) + "/" + state.objects[g])).meta;
          // Only the rule texts are needed: the exact paths view the whole object's bytes.
          src->meta[g]->inode_paths.clear();
          src->meta[g]->inode_path_storage.reset();
        } catch (const RuntimeError&) {
        }
      }
    } catch (const RuntimeError&) {
      // Without state events still print, only without rule sources.
    }
    if (!rb_) {
      rb_ = ring_buffer__new(src->ring.get(), &EventReader::on_record, src.get(), nullptr);
      if (!rb_) throw RuntimeError(describe_errno("reading the event ring buffer of " + n, errno), errno);
    } else if (int err = ring_buffer__add(rb_, src->ring.get(), &EventReader::on_record, src.get())) {
      throw RuntimeError(describe_errno("reading the event ring buffer of " + n, -err), -err);
    }
    sources_.push_back(std::move(src));
  }
}

EventReader::~EventReader() {
  if (rb_) ring_buffer__free(rb_);
}

int EventReader::on_record(void* ctx, void* data, std::size_t size) {
  auto* src = static_cast<Source*>(ctx);
  std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(data), size);
  if (size < sizeof(krsie_event)) return 0;
  std::uint8_t gen = bytes[offsetof(krsie_event, generation)] & 1;
  const PolicyMetadata* meta = src->meta[gen] ? &*src->meta[gen] : nullptr;
  src->reader->sink_(decode_event(bytes, src->policy, meta, src->reader->cgroups_, src->reader->offset_ns_));
  return 0;
}

int EventReader::drain() {
  if (!rb_) return 0;
  int n = ring_buffer__consume(rb_);
  if (n < 0) throw RuntimeError(describe_errno("reading events", -n), -n);
  return n;
}

int EventReader::poll(int timeout_ms) {
  if (!rb_) return 0;
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n == -EINTR) return 0;
  if (n < 0) throw RuntimeError(describe_errno("waiting for events", -n), -n);
  return n;
}

}  // namespace krsie::runtime
