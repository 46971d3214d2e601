#pragma once
// The KRS type system. Values are integers, booleans, IP addresses/networks, strings and paths;
// integers carry a *unit* so that named constants of one kind (AF_INET) cannot be compared with
// a field of another kind (a socket type), and sema can say so.

#include <cstdint>
#include <string>
#include <string_view>

namespace krsie {

enum class TypeKind : std::uint8_t {
  integer,  // fixed-width integer (see bits/is_signed)
  boolean,
  address,  // IPv4 or IPv6 address; compared against CIDR networks
  string,   // e.g. comm, a filesystem type name
  path,     // absolute filesystem path; compared against paths, directories and globs
};

// What an integer means; constants and fields of different units do not mix.
enum class Unit : std::uint8_t {
  none,
  port,            // 0..65535
  uid,
  gid,
  pid,
  family,          // AF_*
  socket_type,     // SOCK_*
  protocol,        // IPPROTO_*
  capability,      // CAP_*
  signal,          // SIG*
  prot,            // PROT_* flags (mmap/mprotect)
  mode,            // file mode bits (0o7777)
  lockdown_reason, // LOCKDOWN_*
  ptrace_mode,     // PTRACE_MODE_* flags
  bpf_cmd,         // BPF_* commands of bpf(2)
  errno_value,     // E* (only in actions)
};

struct Type {
  TypeKind kind = TypeKind::integer;
  Unit unit = Unit::none;
  std::uint8_t bits = 64;  // integers only
  bool is_signed = false;  // integers only

  static Type integer(std::uint8_t bits, bool is_signed, Unit unit = Unit::none) {
    return {TypeKind::integer, unit, bits, is_signed};
  }
  static Type boolean() { return {TypeKind::boolean, Unit::none, 1, false}; }
  static Type address() { return {TypeKind::address, Unit::none, 128, false}; }
  static Type string() { return {TypeKind::string, Unit::none, 0, false}; }
  static Type path() { return {TypeKind::path, Unit::none, 0, false}; }

  bool operator==(const Type&) const = default;
};

// "u16 port", "s32", "address", "path", ... for diagnostics and --emit output.
std::string type_name(const Type& t);
std::string_view unit_name(Unit u);

}  // namespace krsie
