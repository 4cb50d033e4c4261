// markup.h — text made safe to put into HTML or XML (SVG).
//
//   html += absl::StrCat("<td>", EscapeMarkup(job.spec().display_name()), "</td>");
//
// Everything a user wrote (job names, model and layer names, failure
// reasons) goes through EscapeMarkup before it reaches a page, in element
// text and in quoted attribute values alike.
#ifndef SLIMTRAIN_RENDER_MARKUP_H_
#define SLIMTRAIN_RENDER_MARKUP_H_

#include <string>

#include "absl/strings/string_view.h"

namespace slimtrain::render {

// & < > " ' as character references; control characters other than tab and
// newline (which HTML and XML 1.0 cannot carry) as U+FFFD. Invalid UTF-8 is
// left to the browser, which shows it as U+FFFD.
std::string EscapeMarkup(absl::string_view text);

}  // namespace slimtrain::render

#endif  // SLIMTRAIN_RENDER_MARKUP_H_
