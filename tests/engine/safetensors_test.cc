// DecodeSafetensors: what EncodeSafetensors writes decodes back exactly, and
// every malformed header is an error naming the tensor, the field and the
// value (the cases the fuzzer found first among them).
#include "engine/safetensors.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace slimtrain::engine {
namespace {

// A file whose header is `json` (padded to 8) followed by `data`.
std::string FileWithHeader(const std::string& json, const std::string& data) {
  std::string header = json;
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(SafetensorsTest, EncodeThenDecodeIsExactIncludingEmptyTensors) {
  SafetensorsFile file;
  file.metadata["format"] = "pt";
  file.metadata["note"] = "a \"quoted\"\nvalue";
  // "empty" sits where "b" starts: decoding must keep it before "b", or a
  // second encoding would put "b" before it and fail to decode.
  file.tensors.push_back({"a", "F32", {2}, std::string(8, '\1')});
  file.tensors.push_back({"empty", "BOOL", {0, 3}, ""});
  file.tensors.push_back({"b", "I64", {}, std::string(8, '\2')});
  for (int round = 0; round < 2; ++round) {
    absl::StatusOr<SafetensorsFile> back = DecodeSafetensors(EncodeSafetensors(file), "t.safetensors");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->metadata, file.metadata);
    ASSERT_EQ(back->tensors.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(back->tensors[i].name, file.tensors[i].name);
      EXPECT_EQ(back->tensors[i].dtype, file.tensors[i].dtype);
      EXPECT_EQ(back->tensors[i].shape, file.tensors[i].shape);
      EXPECT_EQ(back->tensors[i].bytes, file.tensors[i].bytes);
    }
    file = *back;
  }
}

struct BadHeader {
  const char* name;
  std::string json;
  std::string data;
  std::string message;  // after "t.safetensors: not a valid safetensors file: "
};

class SafetensorsErrorTest : public testing::TestWithParam<BadHeader> {};

TEST_P(SafetensorsErrorTest, NamesTheTensorFieldAndValue) {
  const BadHeader& c = GetParam();
  absl::StatusOr<SafetensorsFile> file = DecodeSafetensors(FileWithHeader(c.json, c.data), "t.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(file.status().message(), "t.safetensors: not a valid safetensors file: " + c.message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SafetensorsErrorTest,
    testing::Values(
        BadHeader{"NegativeDimension", R"({"w":{"dtype":"F32","shape":[-1,-2],"data_offsets":[0,8]}})",
                  std::string(8, '\0'), "tensor 'w': shape[0] is -1, not an integer >= 0"},
        BadHeader{"FractionalDimension", R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})",
                  std::string(4, '\0'), "tensor 'w': shape[0] is 1.5, not an integer >= 0"},
        BadHeader{"HugeDimension", R"({"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}})",
                  std::string(4, '\0'), "tensor 'w': shape[0] is 1e+300, not an integer >= 0"},
        BadHeader{"ShapeNotAList", R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,4]}})",
                  std::string(4, '\0'), "tensor 'w': shape is \"2\", not a list"},
        BadHeader{"ElementsPastInt64",
                  R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                  std::string(8, '\0'), "tensor 'w': 8 bytes for shape [4294967296,4294967296] of F64 needs more "
                                        "than 2^63"},
        BadHeader{"OffsetsNotIntegers", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})",
                  std::string(4, '\0'), "tensor 'w': data_offsets [0,\"4\"] are not two integers >= 0"},
        BadHeader{"OneOffset", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", std::string(4, '\0'),
                  "tensor 'w': data_offsets is [4], not two integers [begin, end]"},
        BadHeader{"NegativeOffset", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
                  std::string(4, '\0'), "tensor 'w': data_offsets [-4,0] are not two integers >= 0"},
        BadHeader{"UnknownDtype", R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'),
                  "tensor 'w' has unknown dtype \"F8\""},
        BadHeader{"DtypeNotAString", R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
                  "tensor 'w' has unknown dtype 4"},
        BadHeader{"MetadataValueNotAString", R"({"__metadata__":{"step":3}})", "",
                  "__metadata__ 'step' is 3, not a string"},
        BadHeader{"MetadataNotAnObject", R"({"__metadata__":[1]})", "", "__metadata__ is [1], not an object"},
        BadHeader{"Gap", R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", std::string(2, '\0'),
                  "tensor 'a' starts at data offset 1, expected 0 (gap or overlap)"}),
    [](const testing::TestParamInfo<BadHeader>& info) { return info.param.name; });

}  // namespace
}  // namespace slimtrain::engine
