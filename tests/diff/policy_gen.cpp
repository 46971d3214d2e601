// Random .krs policies for the differential table.
#include <sstream>

#include "generators.h"

namespace krsie::difftest {

namespace {

const std::vector<std::string>& actions() {
  static const std::vector<std::string> v = {"deny", "deny", "audit", "allow", "kill"};
  return v;
}

const std::vector<std::string>& paths() {
  static const std::vector<std::string> v = {
    "/etc/shadow", "/etc/passwd", "/etc/**",      "/tmp/**",        "/usr/bin/*",  "/usr/bin/curl",
    "/home/*/.ssh/**", "/etc/pa*wd", "/var/lib/app/?", "/etc/[a-p]*", "/srv/**/key", "/",
    "/usr/**",     "/tmp/x",      "/bin/sh",      "/opt/app/bin/*", "/dev/shm/**", "/usr/lib/*.so"};
  return v;
}

const std::vector<std::string>& binaries() {
  static const std::vector<std::string> v = {"/usr/bin/sh", "/bin/**", "/usr/bin/curl", "/opt/app/bin/*",
                                             "/usr/local/bin/app", "/tmp/**"};
  return v;
}

const std::vector<std::string>& cidrs() {
  static const std::vector<std::string> v = {"10.0.0.0/8", "10.1.0.0/16", "192.168.1.1", "169.254.169.254",
                                          "0.0.0.0/0", "172.16.0.0/12", "127.0.0.1/32",
                                          "\"2001:db8::/32\"", "\"::1\"", "\"fd00::/8\"", "\"::ffff:10.0.0.0/104\"",
                                          "\"::/0\""};
  return v;
}

const std::vector<std::string>& comms() {
  static const std::vector<std::string> v = {"sh", "bash", "curl", "nginx", "a", "kworker/0:1"};
  return v;
}


std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::vector<std::string> some(Rng& rng, const std::vector<std::string>& pool, unsigned max, bool quote) {
  std::vector<std::string> out;
  unsigned n = 1 + static_cast<unsigned>(rng.below(max));
  for (unsigned i = 0; i < n; ++i) out.push_back(quote ? quoted(rng.pick(pool)) : rng.pick(pool));
  return out;
}

// A number near interesting boundaries of an integer of `max` (inclusive).
std::uint64_t number(Rng& rng, std::uint64_t max) {
  switch (rng.below(6)) {
    case 0: return rng.below(8);
    case 1: return rng.below(64);
    case 2: return max - rng.below(3);
    case 3: return (max >> 1) + rng.below(3) - 1;
    case 4: return rng.below(1025);
    default: return rng.below(max) + 1;
  }
}

// Integer list items like `1, 5..9` of values within [0, max].
std::string int_items(Rng& rng, std::uint64_t max) {
  std::vector<std::string> items;
  unsigned n = 1 + static_cast<unsigned>(rng.below(3));
  for (unsigned i = 0; i < n; ++i) {
    std::uint64_t a = number(rng, max);
    if (rng.chance(40)) {
      std::uint64_t b = a + rng.below(200);
      if (b > max || b < a) b = max;
      items.push_back(std::to_string(a) + ".." + std::to_string(b));
    } else {
      items.push_back(std::to_string(a));
    }
  }
  return join(items);
}

std::string int_list(Rng& rng, std::uint64_t max) { return "[" + int_items(rng, max) + "]"; }

struct FieldSpec {
  std::string name;
  char kind;  // i integer, b boolean, p path, s string, a address
  std::uint64_t max = 0;
};

const std::vector<FieldSpec>& hook_fields(const std::string& hook) {
  static const std::vector<FieldSpec> file_open = {{"path", 'p'}, {"flags", 'i', 0xffffffff}, {"fmode", 'i', 0xffffffff},
                                                   {"inode_mode", 'i', 0xffff}};
  static const std::vector<FieldSpec> bprm = {{"path", 'p'}, {"filename", 's'}, {"argc", 'i', 0x7fffffff}};
  static const std::vector<FieldSpec> connect = {{"family", 'i', 0xffff}, {"remote_addr", 'a'}, {"remote_port", 'i', 0xffff},
                                                 {"type", 'i', 0x7fff},   {"protocol", 'i', 0xffff}, {"addrlen", 'i', 0x7fffffff}};
  static const std::vector<FieldSpec> create = {{"family", 'i', 0x7fffffff}, {"type", 'i', 0x7fffffff},
                                                {"protocol", 'i', 0x7fffffff}, {"kern", 'b'}};
  static const std::vector<FieldSpec> capable = {{"cap", 'i', 0x7fffffff}, {"opts", 'i', 0xffffffff}};
  static const std::vector<FieldSpec> setuid = {{"new_uid", 'i', 0xffffffff}, {"new_euid", 'i', 0xffffffff},
                                                {"new_suid", 'i', 0xffffffff}, {"old_uid", 'i', 0xffffffff},
                                                {"old_euid", 'i', 0xffffffff}, {"flags", 'i', 0x7fffffff},
                                                {"old_suid", 'i', 0xffffffff}};
  static const std::vector<FieldSpec> kill = {{"sig", 'i', 0x7fffffff}, {"target_pid", 'i', 0x7fffffff},
                                              {"target_uid", 'i', 0xffffffff}, {"target_comm", 's'}};
  static const std::vector<FieldSpec> rename = {{"old_path", 'p'}, {"new_path", 'p'}, {"flags", 'i', 0xffffffff}};
  static const std::vector<FieldSpec> link = {{"old_path", 'p'}, {"new_path", 'p'}};
  static const std::vector<FieldSpec> none;
  if (hook == "file_open") return file_open;
  if (hook == "bprm_check_security") return bprm;
  if (hook == "socket_connect") return connect;
  if (hook == "socket_create") return create;
  if (hook == "capable") return capable;
  if (hook == "task_fix_setuid") return setuid;
  if (hook == "task_kill") return kill;
  if (hook == "path_rename") return rename;
  if (hook == "path_link") return link;
  return none;
}

const std::vector<FieldSpec>& common_specs() {
  static const std::vector<FieldSpec> common = {{"uid", 'i', 0xffffffff}, {"euid", 'i', 0xffffffff}, {"tgid", 'i', 0x7fffffff},
                                                {"comm", 's'}, {"exe", 'p'}};
  return common;
}

std::string atom(Rng& rng, const std::string& hook) {
  const std::vector<FieldSpec>& fields = hook_fields(hook);
  const FieldSpec& f = rng.chance(80) ? rng.pick(fields) : rng.pick(common_specs());
  switch (f.kind) {
    case 'i':
      switch (rng.below(8)) {
        case 0: return f.name + " == " + std::to_string(number(rng, f.max));
        case 1: return f.name + " != " + std::to_string(number(rng, f.max));
        case 2: return f.name + " < " + std::to_string(1 + number(rng, f.max - 1));
        case 3: return f.name + " >= " + std::to_string(number(rng, f.max));
        case 4: return f.name + " > " + std::to_string(number(rng, f.max - 1));
        case 5: return f.name + " not in " + int_list(rng, f.max);
        case 6: return f.name + " has " + std::to_string((1ull << rng.below(f.max >= 0xffff ? 16 : 8)) | (rng.chance(30) ? 1u : 0u));
        default: return f.name + " in " + int_list(rng, f.max);
      }
    case 'b': return rng.chance(50) ? f.name : (rng.chance(50) ? "not " + f.name : f.name + " == false");
    case 'p':
      return rng.chance(40) ? f.name + " == " + quoted(rng.pick(paths()))
                            : f.name + (rng.chance(20) ? " not in [" : " in [") + join(some(rng, paths(), 3, true)) + "]";
    case 's': {
      std::vector<std::string> pool = comms();
      if (f.name == "filename") pool = {"/bin/sh", "./run", "/usr/bin/curl", "/dev/fd/3"};
      return rng.chance(40) ? f.name + (rng.chance(50) ? " == " : " != ") + quoted(rng.pick(pool))
                            : f.name + " in [" + join(some(rng, pool, 3, true)) + "]";
    }
    case 'a': return f.name + (rng.chance(20) ? " not in [" : " in [") + join(some(rng, cidrs(), 3, false)) + "]";
  }
  return "true";
}

std::string condition(Rng& rng, const std::string& hook, int depth) {
  if (depth == 0 || rng.chance(35)) return atom(rng, hook);
  std::string a = condition(rng, hook, depth - 1), b = condition(rng, hook, depth - 1);
  switch (rng.below(4)) {
    case 0: return "(" + a + " or " + b + ")";
    case 1: return "not (" + a + " and " + b + ")";
    default: return a + " and " + b;
  }
}

std::string options(Rng& rng, const std::string& action) {
  std::string out;
  if ((action == "deny" || action == "kill") && rng.chance(20)) out += rng.chance(50) ? " errno EACCES" : " errno ENOENT";
  if (rng.chance(10)) out += " message \"m\"";
  return out;
}

std::string rule(Rng& rng, bool in_from) {
  std::string act = rng.pick(actions());
  std::ostringstream r;
  switch (rng.below(in_from ? 8 : 10)) {
    case 0: {
      std::vector<std::string> ops = {"read", "write", "append", "truncate", "exec", "read, write", "rename", "link"};
      r << act << " file " << rng.pick(ops) << " " << join(some(rng, paths(), 3, true));
      break;
    }
    case 1: r << act << " exec " << join(some(rng, paths(), 3, true)); break;
    case 2: {
      r << act << " network connect";
      if (rng.chance(60)) r << " to " << join(some(rng, cidrs(), 3, false));
      if (rng.chance(60)) r << " port " << int_items(rng, 0xffff);
      if (rng.chance(25)) r << " family " << (rng.chance(50) ? "inet" : "inet, inet6");
      if (rng.chance(20)) r << " protocol " << (rng.chance(50) ? "tcp" : "udp");
      break;
    }
    case 3: {
      r << act << " network create";
      if (rng.chance(60)) r << " family " << join(some(rng, {"inet", "inet6", "unix", "packet", "netlink"}, 2, false));
      if (rng.chance(50)) r << " type " << join(some(rng, {"stream", "dgram", "raw"}, 2, false));
      break;
    }
    case 4: r << act << " capability " << join(some(rng, {"CAP_SYS_ADMIN", "net_raw", "CAP_BPF", "sys_module", "0", "CAP_SETUID"}, 3, false)); break;
    case 5: r << act << " setuid" << (rng.chance(70) ? " to " + int_items(rng, 70000) : ""); break;
    case 6: {
      r << act << " signal";
      if (rng.chance(70)) r << " " << join(some(rng, {"SIGKILL", "term", "1..3", "0", "stop", "9..15"}, 3, false));
      if (rng.chance(40)) r << " to outside";
      break;
    }
    default: {
      std::vector<std::string> hooks = {"file_open", "bprm_check_security", "socket_connect", "socket_create",
                                        "capable", "task_fix_setuid", "task_kill", "path_rename", "path_link"};
      std::string hook = rng.pick(hooks);
      r << "on " << hook;
      if (rng.chance(90)) r << " when " << condition(rng, hook, 2);
      r << " " << act;
      break;
    }
  }
  return r.str() + options(rng, act) + ";";
}

}  // namespace

std::string generate_policy(Rng& rng, const std::string& name) {
  std::ostringstream out;
  out << "policy " << name << " {\n  target cgroup \"/sys/fs/cgroup/diff\";\n";
  for (const char* domain : {"file", "exec", "network", "capability", "setuid", "signal"})
    if (rng.chance(15)) out << "  default " << domain << " " << (rng.chance(60) ? "deny" : "audit") << ";\n";
  unsigned n = 1 + static_cast<unsigned>(rng.below(7));
  for (unsigned i = 0; i < n; ++i) {
    if (rng.chance(15)) {
      out << "  from " << join(some(rng, binaries(), 2, true)) << " {\n";
      unsigned m = 1 + static_cast<unsigned>(rng.below(3));
      for (unsigned k = 0; k < m; ++k) out << "    " << rule(rng, true) << "\n";
      out << "  }\n";
    } else {
      out << "  " << rule(rng, false) << "\n";
    }
  }
  out << "}\n";
  return out.str();
}

}  // namespace krsie::difftest
