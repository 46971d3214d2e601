#pragma once
// --emit=pir: the policy IR as stable, readable text (made for FileCheck and diffs). Integer
// values of typed fields print with their constant names (AF_INET, CAP_SYS_ADMIN).

#include <ostream>
#include <string>

#include "pir/pir.h"

namespace krsie::pir {

struct PrintOptions {
  bool locations = false;  // append the rule table with file:line:col of every rule's sources
};

void print(const PolicySet& set, std::ostream& out, const PrintOptions& options = {});
std::string matcher_text(const Matcher& m, const Type& type);
std::string constraint_text(const Constraint& c);

}  // namespace krsie::pir
