// Model files survive a round trip, parse errors point at the file, line and
// column, and file writes are atomic.
#include "planner/model_io.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/zoo.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {
namespace {

using google::protobuf::util::MessageDifferencer;

// A fresh directory under TEST_TMPDIR for one test.
std::string TestDir() {
  const char* root = std::getenv("TEST_TMPDIR");
  const std::string base = root != nullptr ? root : testing::TempDir();
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::StrCat(info->test_suite_name(), ".", info->name());
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  const std::string dir = absl::StrCat(base, "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

// Names in `dir`, without "." and "..".
std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(d);
  return names;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// ---------------------------------------------------------------------------
// Round trips.

struct RoundTripCase {
  const char* model;
  const char* file;  // its extension picks the format
  bool json;
};

class ModelRoundTripTest : public testing::TestWithParam<RoundTripCase> {};

TEST_P(ModelRoundTripTest, WriteThenLoadGivesTheSameSpec) {
  const RoundTripCase& c = GetParam();
  absl::StatusOr<v1::ModelSpec> spec = ZooModel(c.model);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const std::string path = TestDir() + "/" + c.file;
  const std::string contents = c.json ? ModelToJson(*spec) : ModelToText(*spec);
  ASSERT_TRUE(base::WriteFileAtomically(path, contents).ok());

  absl::StatusOr<v1::ModelSpec> loaded = LoadModelFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*spec, *loaded)) << c.model << " via " << c.file;

  // The same through ParseModel on the bytes, with the format given.
  absl::StatusOr<v1::ModelSpec> parsed =
      ParseModel(contents, c.json ? ModelFormat::kJson : ModelFormat::kText, c.file);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*spec, *parsed));
}

constexpr RoundTripCase kRoundTripCases[] = {
    // Residual adds, projections, biases set to false.
    {"resnet20", "resnet20.pbtxt", false},
    {"resnet20", "resnet20.json", true},
    // Concat with many inputs, avg pools.
    {"densenet_bc_100", "densenet.textproto", false},
    {"densenet_bc_100", "densenet.json", true},
    // Dropout (a double), flatten, max pools, conv biases set to true.
    {"vgg16_bn", "vgg.prototxt", false},
    {"vgg16_bn", "vgg.JSON", true},
    // No extension: the format is sniffed from the content.
    {"fmnist_resnet", "fmnist_text", false},
    {"fmnist_resnet", "fmnist_json", true},
};

INSTANTIATE_TEST_SUITE_P(ZooModels, ModelRoundTripTest, testing::ValuesIn(kRoundTripCases),
                         [](const testing::TestParamInfo<RoundTripCase>& info) {
                           std::string name = info.param.file;
                           for (char& ch : name) {
                             if (ch == '.') ch = '_';
                           }
                           return name;
                         });

TEST(ModelToTextTest, StartsWithTheEditingHint) {
  absl::StatusOr<v1::ModelSpec> spec = ZooModel("resnet20");
  ASSERT_TRUE(spec.ok());
  const std::string text = ModelToText(*spec);
  EXPECT_TRUE(absl::StartsWith(
      text, "# slimtrain model 'resnet20': edit and pass with --model-file\nname: \"resnet20\"\n"))
      << text.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(text, "\ninput {\n  dims: [3, 32, 32]\n}\n"))
      << text.substr(0, 400);
  // One layer a line.
  EXPECT_TRUE(
      absl::StrContains(text,
                        "\nlayers { name: \"conv1\" inputs: \"input\" conv2d { out_channels: 16 "
                        "kernel_size: 3 padding: 1 bias: false } }\n"))
      << text.substr(0, 600);
  EXPECT_EQ(
      std::count(text.begin(), text.end(), '\n'),
      /*comment, name, description*/ 3 + /*input*/ 3 + /*num_classes*/ 1 + spec->layers_size());
}

TEST(ModelToTextTest, ANameWithANewlineStaysInTheComment) {
  v1::ModelSpec spec;
  spec.set_name("two\nlines");
  const std::string text = ModelToText(spec);
  EXPECT_TRUE(absl::StartsWith(text, "# slimtrain model 'two\\nlines': edit")) << text;
  absl::StatusOr<v1::ModelSpec> parsed = ParseModel(text, ModelFormat::kText, "x.pbtxt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->name(), "two\nlines");
}

TEST(ModelToJsonTest, UsesProtoFieldNamesAndIsPretty) {
  absl::StatusOr<v1::ModelSpec> spec = ZooModel("resnet20");
  ASSERT_TRUE(spec.ok());
  const std::string json = ModelToJson(*spec);
  EXPECT_TRUE(absl::StrContains(json, "\"out_channels\"")) << json.substr(0, 400);
  EXPECT_TRUE(absl::StrContains(json, "\"kernel_size\""));
  EXPECT_TRUE(absl::StrContains(json, "\"num_classes\""));
  EXPECT_FALSE(absl::StrContains(json, "outChannels"));
  EXPECT_TRUE(absl::StartsWith(json, "{\n"));
}

TEST(ParseModelTest, JsonWithCamelCaseNamesAndPlainNumbersParses) {
  const char* json = R"({"name": "tiny", "numClasses": 10, "input": {"dims": [1, 28, 28]},
    "layers": [{"name": "fc", "inputs": ["input"], "linear": {"outFeatures": 10}},
               {"name": "loss", "inputs": ["fc"], "softmaxCrossEntropy": {}}]})";
  absl::StatusOr<v1::ModelSpec> spec = ParseModel(json, ModelFormat::kJson, "tiny.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->num_classes(), 10);
  EXPECT_EQ(spec->input().dims_size(), 3);
  EXPECT_EQ(spec->layers(0).linear().out_features(), 10);
}

// ---------------------------------------------------------------------------
// Format detection.

struct FormatCase {
  const char* path;
  const char* contents;
  ModelFormat expected;
};

class DetectModelFormatTest : public testing::TestWithParam<FormatCase> {};

TEST_P(DetectModelFormatTest, ExtensionFirstThenContent) {
  const FormatCase& c = GetParam();
  EXPECT_EQ(DetectModelFormat(c.path, c.contents), c.expected) << c.path;
}

constexpr FormatCase kFormatCases[] = {
    {"m.json", "name: \"x\"", ModelFormat::kJson},  // the extension wins
    {"dir.d/M.Json", "", ModelFormat::kJson},
    {"m.pbtxt", "{}", ModelFormat::kText},
    {"m.textproto", "{}", ModelFormat::kText},
    {"m.txt", "{}", ModelFormat::kText},
    {"m.prototxt", "{}", ModelFormat::kText},
    {"model", " \n\t{\"name\": \"x\"}", ModelFormat::kJson},
    {"model.spec", "{}", ModelFormat::kJson},
    {"json.d/model", "name: \"x\"", ModelFormat::kText},  // the directory's dot is no extension
    {"model", "# a comment\n{", ModelFormat::kText},
    {"model", "", ModelFormat::kText},
};

INSTANTIATE_TEST_SUITE_P(Cases, DetectModelFormatTest, testing::ValuesIn(kFormatCases));

// ---------------------------------------------------------------------------
// Errors.

struct ParseErrorCase {
  const char* test_name;
  ModelFormat format;
  const char* contents;
  const char* expected_message;  // the whole message
};

class ParseErrorTest : public testing::TestWithParam<ParseErrorCase> {};

TEST_P(ParseErrorTest, NamesFileLineAndColumn) {
  const ParseErrorCase& c = GetParam();
  const char* file = c.format == ModelFormat::kJson ? "bad.json" : "bad.pbtxt";
  absl::StatusOr<v1::ModelSpec> spec = ParseModel(c.contents, c.format, file);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  // A message ending in "known ops: " goes on with every op (graph.h's
  // KnownOpNames, in the proto's order).
  std::string expected = c.expected_message;
  if (absl::EndsWith(expected, "known ops: ")) expected += KnownOpNames();
  EXPECT_EQ(std::string(spec.status().message()), expected);
}

constexpr ParseErrorCase kParseErrorCases[] = {
    {"TextBadInteger", ModelFormat::kText,
     "name: \"bad\"\ninput { dims: 3 }\n"
     "layers { name: \"c\" conv2d { kernel_size: abc } }\n",
     "bad.pbtxt:3:42: Expected integer, got: abc"},
    {"TextUnknownField", ModelFormat::kText, "name: \"bad\"\n  layerz {}\n",
     "bad.pbtxt:2:10: Message type \"slimtrain.v1.ModelSpec\" has no field named \"layerz\"."},
    {"TextUnclosedBrace", ModelFormat::kText, "name: \"bad\"\nlayers {\n",
     "bad.pbtxt:3:1: Expected identifier, got: "},
    {"JsonMissingColon", ModelFormat::kJson,
     "{\n  \"name\": \"x\",\n  \"layers\": [ { \"name\" \"a\" } ]\n}",
     "bad.json:3:24: Expected : between key:value pair."},
    {"JsonTruncated", ModelFormat::kJson, "{\n  \"name\": \"x\"",
     "bad.json:2:14: Unexpected end of string. Expected , or } after key:value pair."},
    // Errors past the tokenizer have no position; they name the field.
    {"JsonUnknownField", ModelFormat::kJson, "{\"name\": \"x\", \"layerz\": []}",
     "bad.json: layerz: Cannot find field."},
    {"JsonTwoOps", ModelFormat::kJson, "{\"layers\": [{\"conv2d\": {}, \"relu\": {}}]}",
     "bad.json: (layers[0]): invalid value oneof field 'op' is already set. "
     "Cannot set 'relu' for type oneof"},
    // An op the graph does not know: the layer is named, the known ops listed.
    {"TextUnknownOp", ModelFormat::kText,
     "name: \"m\"\nlayers { name: \"a\" inputs: \"input\" relu {} }\n"
     "layers {\n  name: \"act\"\n  inputs: \"a\"\n  gelu_new {}\n}\n",
     "bad.pbtxt:6:12: layer 'act' (layers[1]) has no field 'gelu_new': a layer has a name, inputs and one op; "
     "known ops: "},
    {"JsonUnknownOp", ModelFormat::kJson,
     "{\"layers\": [{\"name\": \"a\", \"relu\": {}}, {\"swish\": {}, \"name\": \"act\"}]}",
     "bad.json: layer 'act' (layers[1]) has no field 'swish': a layer has a name, inputs and one op; "
     "known ops: "},
    // proto3 strings are UTF-8; the text parser alone would take any bytes.
    {"TextInputNotUtf8", ModelFormat::kText,
     "name: \"m\"\nlayers { name: \"a\" }\nlayers { name: \"b\" inputs: \"x\" inputs: \"b1.\xC3\" }\n",
     "bad.pbtxt: layers[1].inputs[1] 'b1.\\xc3' is not valid UTF-8"},
    {"TextNameNotUtf8", ModelFormat::kText, "name: \"\\377\"\n",
     "bad.pbtxt: name '\\xff' is not valid UTF-8"},
    // Found by tests/fuzz/model_fuzzer: protobuf's JSON parser keeps a ""
    // key as an unknown field, which ModelToText then prints as "5: \"\"".
    {"JsonEmptyKey", ModelFormat::kJson, "{\"layers\": [{\"name\": \"a\"}, {\"\": {}}]}",
     "bad.json: layers[1] has an unknown field (number 5)"},
};

INSTANTIATE_TEST_SUITE_P(Cases, ParseErrorTest, testing::ValuesIn(kParseErrorCases),
                         [](const testing::TestParamInfo<ParseErrorCase>& info) {
                           return info.param.test_name;
                         });

TEST(LoadModelFileTest, MissingFileIsNotFoundAndNamed) {
  const std::string path = TestDir() + "/no_such_model.pbtxt";
  absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(spec.status().message(), "'" + path + "'"))
      << spec.status().message();
}

TEST(LoadModelFileTest, DirectoryIsAnErrorNamingIt) {
  const std::string dir = TestDir();
  absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(dir);
  ASSERT_FALSE(spec.ok());
  EXPECT_TRUE(absl::StrContains(spec.status().message(), "'" + dir + "'"))
      << spec.status().message();
}

TEST(LoadModelFileTest, ParseErrorsNameThePath) {
  const std::string path = TestDir() + "/broken.json";
  ASSERT_TRUE(base::WriteFileAtomically(path, "{\"name\": }").ok());
  absl::StatusOr<v1::ModelSpec> spec = LoadModelFile(path);
  ASSERT_FALSE(spec.ok());
  EXPECT_TRUE(absl::StartsWith(spec.status().message(), path + ":1:")) << spec.status().message();
}

// ---------------------------------------------------------------------------
// File utilities.

TEST(FileUtilTest, WriteThenReadIsExactIncludingBinary) {
  const std::string dir = TestDir();
  const std::string path = dir + "/data.bin";
  const std::string binary("\0\x01\xff\n\r slimtrain\0", 16);
  const std::string big(3 << 20, 'x');  // more than one read() buffer
  for (const std::string& contents : {binary, big, std::string(), std::string("short")}) {
    ASSERT_TRUE(base::WriteFileAtomically(path, contents).ok());
    absl::StatusOr<std::string> read = base::ReadFile(path);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, contents);  // a shorter write leaves no tail of a longer one
  }
  EXPECT_EQ(ListDir(dir), std::set<std::string>{"data.bin"});  // no temporary files
}

TEST(FileUtilTest, RelativePathWritesIntoTheWorkingDirectory) {
  const std::string dir = TestDir();
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir.c_str()), 0);
  const absl::Status status = base::WriteFileAtomically("relative.txt", "here");
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<std::string> read = base::ReadFile(dir + "/relative.txt");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "here");
}

TEST(FileUtilTest, KeepsTheModeOfTheFileItReplaces) {
  const std::string path = TestDir() + "/private.txt";
  ASSERT_TRUE(base::WriteFileAtomically(path, "old").ok());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  ASSERT_TRUE(base::WriteFileAtomically(path, "new").ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(FileUtilTest, MissingDirectoryFailsNamingThePathAndCreatesNothing) {
  const std::string dir = TestDir();
  const std::string path = dir + "/no_such_dir/model.pbtxt";
  const absl::Status status = base::WriteFileAtomically(path, "name: \"x\"");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(), "'" + path + "'")) << status.message();
  EXPECT_FALSE(Exists(dir + "/no_such_dir"));
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(FileUtilTest, FailedRenameKeepsTheTargetAndRemovesTheTemporaryFile) {
  // The target is a non-empty directory, so the final rename fails after the
  // temporary file was written.
  const std::string dir = TestDir();
  const std::string target = dir + "/occupied";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  ASSERT_TRUE(base::WriteFileAtomically(target + "/inside.txt", "old").ok());
  const absl::Status status = base::WriteFileAtomically(target, "new");
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "'" + target + "'")) << status.message();
  EXPECT_EQ(ListDir(dir), std::set<std::string>{"occupied"});
  absl::StatusOr<std::string> inside = base::ReadFile(target + "/inside.txt");
  ASSERT_TRUE(inside.ok());
  EXPECT_EQ(*inside, "old");
}

TEST(FileUtilTest, PathEndingInASlashIsRejected) {
  const std::string dir = TestDir() + "/";
  const absl::Status status = base::WriteFileAtomically(dir, "x");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "'" + dir + "'")) << status.message();
}

TEST(FileUtilTest, ReadOfMissingFileIsNotFound) {
  const std::string path = TestDir() + "/absent";
  absl::StatusOr<std::string> read = base::ReadFile(path);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(read.status().message(), "cannot read '" + path + "': No such file or directory");
}

// A reader running alongside repeated rewrites sees only whole files: all of
// the old content or all of the new, never a truncated or mixed one.
TEST(FileUtilTest, ConcurrentReaderNeverSeesAPartialFile) {
  const std::string path = TestDir() + "/shared.bin";
  const std::string a(256 << 10, 'a');
  const std::string b(256 << 10, 'b');
  ASSERT_TRUE(base::WriteFileAtomically(path, a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0}, failed{0};
  std::thread reader([&] {
    while (!done.load()) {
      absl::StatusOr<std::string> read = base::ReadFile(path);
      if (!read.ok()) {
        ++failed;
      } else if (*read != a && *read != b) {
        ++torn;
      }
      ++reads;
    }
  });
  while (reads.load() == 0) std::this_thread::yield();  // the reader is running
  int write_errors = 0;
  for (int i = 0; i < 40; ++i) write_errors += !base::WriteFileAtomically(path, i % 2 ? a : b).ok();
  done = true;
  reader.join();
  EXPECT_EQ(write_errors, 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace slimtrain::planner
