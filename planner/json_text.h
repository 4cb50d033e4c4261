// json_text.h — JSON string literals for the hand-written JSON the tools emit
// (plan reports, safetensors headers, arena files).
//
//   JsonQuote("a\"b\n") == "\"a\\\"b\\n\""
#ifndef SLIMTRAIN_PLANNER_JSON_TEXT_H_
#define SLIMTRAIN_PLANNER_JSON_TEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace slimtrain::planner {

// Appends `text` as a quoted JSON string: quote and backslash escaped, \n \t \r
// by name, other control characters as \u00XX; UTF-8 passes through as is.
void AppendJsonQuoted(absl::string_view text, std::string* out);

// The same, returned.
std::string JsonQuote(absl::string_view text);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_JSON_TEXT_H_
