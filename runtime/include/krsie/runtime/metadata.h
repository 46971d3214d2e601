#pragma once
// The `.krsie.meta` section of a policy object: JSON (docs/policy-object.md) read into
// PolicyMetadata. Throws RuntimeError (ErrorKind::bad_object) for corrupt JSON, an unknown format,
// another ABI, a missing or mistyped key, an invalid mode or an empty name.

#include <optional>
#include <string_view>

#include "krsie/runtime/policy.h"

namespace krsie::runtime {

// Reads the metadata: the fast reader below when the text is in the subset krsiec writes, else
// nlohmann (same result for valid JSON, its precise message for invalid JSON).
PolicyMetadata parse_metadata(std::string_view text, RuleText rule_text = RuleText::keep);

// The fast reader alone: nullopt for anything outside krsiec's subset of JSON (non-ASCII strings,
// \u escapes above 0x7f, signed or fractional numbers, true/false/null, duplicate keys, missing
// or mistyped keys, trailing bytes). Performs no ABI or value checks. Exposed for tests.
std::optional<PolicyMetadata> read_canonical_metadata(std::string_view text, RuleText rule_text = RuleText::keep);

// nlohmann's reader alone (with every check). Exposed for tests.
PolicyMetadata parse_metadata_json(std::string_view text, RuleText rule_text = RuleText::keep);

}  // namespace krsie::runtime
