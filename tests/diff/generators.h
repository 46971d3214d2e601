#pragma once
// Generators of the differential table: random .krs policies (text, so that the front end is
// exercised too) and random events near a compiled policy's constants.

#include <cstdint>
#include <string>
#include <vector>

#include "eval/pir_eval.h"
#include "pir/pir.h"
#include "random.h"

namespace krsie::difftest {

// One random policy named `name`, mixing domain rules, hook rules and `from` blocks over the
// hooks of the table (file_open, bprm_check_security, socket_connect, socket_create, capable,
// task_fix_setuid, task_kill, path_rename, path_link, and the companions the domain rules lower to).
std::string generate_policy(Rng& rng, const std::string& name);

// `count` events for `hook` with values near the constants the policy's rules on that hook test
// (range boundaries, paths from the patterns and their near misses, addresses inside/outside
// each network, strings in/out of the sets), optional fields sometimes absent.
std::vector<eval::Event> generate_events(Rng& rng, const pir::Hook& hook, unsigned count);

// One line per field for failure reports.
std::string describe_event(const eval::Event& e);

}  // namespace krsie::difftest
