#include "planner/model_io.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/json_text.h"
#include "base/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "planner/graph.h"
#include "planner/onnx_import.h"

namespace slimtrain::planner {
namespace {

// Collects the text-format parser's errors as "file:line:column: message"
// (the parser counts from 0; people count from 1).
class TextErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit TextErrorCollector(absl::string_view filename) : filename_(filename) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (errors_.empty()) {
      first_line_ = line;
      first_column_ = column;
      first_message_ = message;
    }
    errors_.push_back(absl::StrCat(filename_, ":", line + 1, ":", column + 1, ": ", message));
  }

  const std::vector<std::string>& errors() const { return errors_; }
  // The first error as reported (0-based position).
  int first_line() const { return first_line_; }
  int first_column() const { return first_column_; }
  const std::string& first_message() const { return first_message_; }

 private:
  std::string filename_;
  std::vector<std::string> errors_;
  int first_line_ = 0, first_column_ = 0;
  std::string first_message_;
};

// "line:column" (1-based; the column counts bytes) of byte `offset` in `text`.
std::string LineColumn(absl::string_view text, size_t offset) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return absl::StrCat(line, ":", offset - line_start + 1);
}

// Protobuf's JSON parser reports no position, only context:
//   "<what>\n<up to 20 bytes before the error><up to 20 after>\n<spaces>^"
// with the caret under the error. Finds the error's byte offset in `contents`
// from that context, or nullopt when the context does not pin it down.
std::optional<size_t> JsonErrorOffset(absl::string_view contents, absl::string_view context,
                                      size_t caret) {
  constexpr size_t kContext = 20;  // the parser's kContextLength
  if (caret > context.size()) return std::nullopt;
  // Ran out of input: nothing is left to quote.
  if (context.empty()) return contents.size();
  // Less than the full context before the caret: the context starts the input.
  if (caret < kContext && absl::StartsWith(contents, context)) return caret;
  // Less than the full context after it: the context ends the input.
  if (context.size() - caret < kContext && absl::EndsWith(contents, context)) {
    return contents.size() - context.size() + caret;
  }
  const size_t first = contents.find(context);
  if (first == absl::string_view::npos) return std::nullopt;
  if (contents.find(context, first + 1) != absl::string_view::npos) return std::nullopt;
  return first + caret;
}

// "file:line:col: what" for a JSON parser error `message`, or "file: message"
// when it carries no position.
std::string JsonErrorMessage(absl::string_view contents, absl::string_view message,
                             absl::string_view filename) {
  const size_t first_newline = message.find('\n');
  const size_t last_newline = message.rfind('\n');
  if (first_newline != absl::string_view::npos && last_newline > first_newline) {
    const absl::string_view what = message.substr(0, first_newline);
    const absl::string_view context =
        message.substr(first_newline + 1, last_newline - first_newline - 1);
    const absl::string_view caret_line = message.substr(last_newline + 1);
    if (absl::EndsWith(caret_line, "^")) {
      std::optional<size_t> offset = JsonErrorOffset(contents, context, caret_line.size() - 1);
      if (offset.has_value()) {
        return absl::StrCat(filename, ":", LineColumn(contents, *offset), ": ", what);
      }
    }
  }
  return absl::StrCat(filename, ": ", message);
}

// What a parser let through that the proto cannot keep, depth first: a
// string that is not valid UTF-8 (proto3 strings must be; the binary form
// and JSON cannot carry it), or an unknown field (protobuf's JSON parser
// files a "" key as one, which text format then cannot print back). The
// message names the path ("layers[2].inputs[0]") and the value, bytes
// escaped; nullopt when there is none. `path` is the message's own path.
std::optional<std::string> FirstUnkeepable(const google::protobuf::Message& message, const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = reflection->GetUnknownFields(message);
  if (!unknown.empty()) {
    return absl::StrCat(path.empty() ? "the model" : path, " has an unknown field (number ",
                        unknown.field(0).number(), ")");
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const std::string inner = absl::StrCat(path, path.empty() ? "" : ".", field->name(),
                                             field->is_repeated() ? absl::StrCat("[", i, "]") : "");
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        const std::string value = field->is_repeated() ? reflection->GetRepeatedString(message, field, i)
                                                       : reflection->GetString(message, field);
        if (!base::IsValidUtf8(value)) return absl::StrCat(inner, " '", absl::CHexEscape(value), "' is not valid UTF-8");
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        std::optional<std::string> problem =
            FirstUnkeepable(field->is_repeated() ? reflection->GetRepeatedMessage(message, field, i)
                                                 : reflection->GetMessage(message, field),
                            inner);
        if (problem.has_value()) return problem;
      }
    }
  }
  return std::nullopt;
}

// "layer 'fc' (layers[4]) has no field 'gelu_new': a layer has a name,
// inputs and one op; known ops: conv2d, ...".
std::string UnknownLayerField(const v1::ModelSpec& spec, int index, absl::string_view field) {
  const std::string who = index < spec.layers_size() && !spec.layers(index).name().empty()
                              ? absl::StrCat("layer '", absl::CHexEscape(spec.layers(index).name()), "' (layers[",
                                             index, "])")
                              : absl::StrCat("layers[", index, "]");
  return absl::StrCat(who, " has no field '", absl::CHexEscape(field),
                      "': a layer has a name, inputs and one op; known ops: ", KnownOpNames());
}

// The text parser's "Message type "slimtrain.v1.Layer" has no field named
// "X"." at (line, column), 0-based: parsed again skipping unknown fields
// and recording where each layer starts, the layer holding the position
// is the last to start before it. nullopt when the error is another one.
std::optional<std::string> TextUnknownLayerField(absl::string_view contents, const std::string& error, int line,
                                                 int column) {
  constexpr absl::string_view kPrefix = "Message type \"slimtrain.v1.Layer\" has no field named \"";
  if (!absl::StartsWith(error, kPrefix)) return std::nullopt;
  absl::string_view field = absl::string_view(error).substr(kPrefix.size());
  field = field.substr(0, field.find('"'));
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(true);
  google::protobuf::TextFormat::ParseInfoTree tree;
  parser.WriteLocationsTo(&tree);
  TextErrorCollector ignored("");
  parser.RecordErrorsTo(&ignored);
  v1::ModelSpec spec;
  if (!parser.ParseFromString(std::string(contents), &spec)) return std::nullopt;
  const google::protobuf::FieldDescriptor* layers = v1::ModelSpec::descriptor()->FindFieldByName("layers");
  int index = -1;
  for (int i = 0; i < spec.layers_size(); ++i) {
    const google::protobuf::TextFormat::ParseLocation at = tree.GetLocation(layers, i);
    if (at.line < line || (at.line == line && at.column <= column)) index = i;
  }
  if (index < 0) return std::nullopt;
  return UnknownLayerField(spec, index, field);
}

// The JSON parser's "X: Cannot find field." names no layer: read the file
// as plain JSON and find the first layer with a key Layer does not have.
std::optional<std::string> JsonUnknownLayerField(absl::string_view contents) {
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(contents.data(), contents.size()),
                                                   &root)
           .ok()) {
    return std::nullopt;
  }
  const auto layers = root.fields().find("layers");
  if (layers == root.fields().end() || !layers->second.has_list_value()) return std::nullopt;
  const google::protobuf::Descriptor* layer = v1::Layer::descriptor();
  const google::protobuf::ListValue& list = layers->second.list_value();
  for (int i = 0; i < list.values_size(); ++i) {
    if (!list.values(i).has_struct_value()) continue;
    v1::ModelSpec named;  // only for the layer's name in the message
    for (int j = 0; j <= i; ++j) named.add_layers();
    const auto& fields = list.values(i).struct_value().fields();
    if (auto name = fields.find("name"); name != fields.end() && name->second.has_string_value()) {
      named.mutable_layers(i)->set_name(name->second.string_value());
    }
    // Sorted, so the message does not depend on the map's order.
    std::vector<std::string> keys;
    for (const auto& [key, value] : fields) keys.push_back(key);
    std::sort(keys.begin(), keys.end());
    for (const std::string& key : keys) {
      bool known = false;
      for (int f = 0; f < layer->field_count() && !known; ++f) {
        known = layer->field(f)->name() == key || layer->field(f)->json_name() == key;
      }
      if (!known) {
        return UnknownLayerField(named, i, key);
      }
    }
  }
  return std::nullopt;
}

absl::string_view Extension(absl::string_view path) {
  const size_t slash = path.rfind('/');
  const absl::string_view base = slash == absl::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = base.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view() : base.substr(dot);
}

}  // namespace

absl::StatusOr<v1::ModelSpec> ParseModel(absl::string_view contents, ModelFormat format,
                                         absl::string_view filename) {
  if (format == ModelFormat::kOnnx) {
    OnnxImportOptions options;
    options.weight_values = false;  // the graph only
    SLIM_ASSIGN_OR_RETURN(OnnxImport im, ImportOnnx(contents, std::string(filename), options));
    return std::move(im.spec);
  }
  v1::ModelSpec spec;
  if (format == ModelFormat::kText) {
    TextErrorCollector errors(filename);
    google::protobuf::TextFormat::Parser parser;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(std::string(contents), &spec)) {
      if (errors.errors().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ": not a valid model in protobuf text format"));
      }
      if (std::optional<std::string> hint =
              TextUnknownLayerField(contents, errors.first_message(), errors.first_line(), errors.first_column());
          hint.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(filename, ":", errors.first_line() + 1, ":", errors.first_column() + 1, ": ", *hint));
      }
      return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "; "));
    }
  } else {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(contents.data(), contents.size()), &spec, options);
    if (!status.ok()) {
      const absl::string_view message(status.message().data(), status.message().size());
      if (absl::StrContains(message, "Cannot find field")) {
        if (std::optional<std::string> hint = JsonUnknownLayerField(contents); hint.has_value()) {
          return absl::InvalidArgumentError(absl::StrCat(filename, ": ", *hint));
        }
      }
      return absl::InvalidArgumentError(JsonErrorMessage(contents, message, filename));
    }
  }
  // The text parser takes any bytes inside a string literal; the JSON parser
  // takes a "" key.
  if (std::optional<std::string> problem = FirstUnkeepable(spec, ""); problem.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(filename, ": ", *problem));
  }
  return spec;
}

ModelFormat DetectModelFormat(absl::string_view path, absl::string_view contents) {
  const std::string ext = absl::AsciiStrToLower(Extension(path));
  if (ext == ".onnx" || LooksLikeOnnx(contents)) return ModelFormat::kOnnx;
  if (ext == ".json") return ModelFormat::kJson;
  if (ext == ".pbtxt" || ext == ".textproto" || ext == ".txt" || ext == ".prototxt") {
    return ModelFormat::kText;
  }
  const absl::string_view body = absl::StripLeadingAsciiWhitespace(contents);
  return !body.empty() && body.front() == '{' ? ModelFormat::kJson : ModelFormat::kText;
}

absl::StatusOr<v1::ModelSpec> LoadModelFile(const std::string& path) {
  SLIM_ASSIGN_OR_RETURN(std::string contents, base::ReadFile(path));
  return ParseModel(contents, DetectModelFormat(path, contents), path);
}

std::string ModelToText(const v1::ModelSpec& spec) {
  // The header fields one a line; then each layer on one line, as the
  // example in proto/model.proto, so a model reads (and diffs) layer by layer.
  google::protobuf::TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(true);  // dims: [3, 32, 32]
  printer.SetUseUtf8StringEscaping(true);       // descriptions stay readable
  google::protobuf::TextFormat::Printer layer_printer;
  layer_printer.SetSingleLineMode(true);
  layer_printer.SetUseShortRepeatedPrimitives(true);
  layer_printer.SetUseUtf8StringEscaping(true);

  v1::ModelSpec header = spec;
  header.clear_layers();
  // CEscape keeps a name with a newline from ending the comment early.
  std::string text = absl::StrCat("# slimtrain model '", absl::CEscape(spec.name()),
                                  "': edit and pass with --model-file\n");
  std::string part;
  // Printing into a string fails only when the output stream does.
  bool printed = printer.PrintToString(header, &part);
  SLIM_CHECK(printed);
  absl::StrAppend(&text, part);
  for (const v1::Layer& layer : spec.layers()) {
    printed = layer_printer.PrintToString(layer, &part);  // ends in a space
    SLIM_CHECK(printed);
    absl::StrAppend(&text, "layers { ", part, "}\n");
  }
  return text;
}

std::string ModelToJson(const v1::ModelSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  // The printer fails only on Any or well-known types it cannot resolve, and
  // ModelSpec has none.
  const bool printed = google::protobuf::util::MessageToJsonString(spec, &json, options).ok();
  SLIM_CHECK(printed);
  return json;
}

}  // namespace slimtrain::planner
