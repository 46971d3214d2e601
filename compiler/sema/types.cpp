#include "sema/types.h"

namespace krsie {

std::string_view unit_name(Unit u) {
  switch (u) {
    case Unit::none: return "none";
    case Unit::port: return "port";
    case Unit::uid: return "uid";
    case Unit::gid: return "gid";
    case Unit::pid: return "pid";
    case Unit::family: return "family";
    case Unit::socket_type: return "socket_type";
    case Unit::protocol: return "protocol";
    case Unit::capability: return "capability";
    case Unit::signal: return "signal";
    case Unit::prot: return "prot";
    case Unit::mode: return "mode";
    case Unit::lockdown_reason: return "lockdown_reason";
    case Unit::ptrace_mode: return "ptrace_mode";
    case Unit::bpf_cmd: return "bpf_cmd";
    case Unit::errno_value: return "errno";
  }
  return "?";
}

std::string type_name(const Type& t) {
  switch (t.kind) {
    case TypeKind::integer: {
      std::string s = t.is_signed ? "s" : "u";
      s += std::to_string(static_cast<unsigned>(t.bits));
      if (t.unit != Unit::none) {
        s += ' ';
        s += unit_name(t.unit);
      }
      return s;
    }
    case TypeKind::boolean: return "bool";
    case TypeKind::address: return "address";
    case TypeKind::string: return "string";
    case TypeKind::path: return "path";
  }
  return "?";
}

}  // namespace krsie
