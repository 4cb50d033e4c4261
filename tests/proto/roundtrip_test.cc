// Every message of proto/ survives protobuf text format and JSON unchanged.
//
// The messages are not listed by hand: the test walks the descriptors of the
// four contract files (nested messages included), fills every field of each
// message with a non-default value by reflection (one instance per alternative
// of its largest oneof, so every oneof member is exercised), and round-trips it.
// A message added to proto/ is covered without touching this file.
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "proto/job.pb.h"
#include "proto/model.pb.h"
#include "proto/plan.pb.h"
#include "proto/service.pb.h"

namespace slimtrain {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::MessageFactory;
using google::protobuf::Reflection;

std::vector<const FileDescriptor*> ContractFiles() {
  return {v1::ModelSpec::descriptor()->file(), v1::MemoryPlan::descriptor()->file(),
          v1::Job::descriptor()->file(), v1::PlanMemoryRequest::descriptor()->file()};
}

void CollectMessages(const Descriptor* d, std::vector<const Descriptor*>* out) {
  out->push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) {
    if (d->nested_type(i)->options().map_entry()) continue;
    CollectMessages(d->nested_type(i), out);
  }
}

std::vector<const Descriptor*> AllMessages() {
  std::vector<const Descriptor*> out;
  for (const FileDescriptor* f : ContractFiles()) {
    for (int i = 0; i < f->message_type_count(); ++i) CollectMessages(f->message_type(i), &out);
  }
  return out;
}

// Fills every field of `m` with a value that differs from the default. For each
// oneof, sets the member at index `variant` modulo the oneof's size.
// `depth` bounds recursion through message fields.
void Fill(Message* m, int variant, int depth) {
  const Descriptor* d = m->GetDescriptor();
  const Reflection* r = m->GetReflection();
  if (d->full_name() == "google.protobuf.Timestamp") {
    r->SetInt64(m, d->FindFieldByName("seconds"), 1795891768);  // 2026-11-28
    r->SetInt32(m, d->FindFieldByName("nanos"), 123000000);
    return;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    const auto* oneof = f->real_containing_oneof();
    if (oneof != nullptr && oneof->field(variant % oneof->field_count()) != f) continue;
    const int n = f->is_repeated() ? 2 : 1;
    for (int k = 0; k < n; ++k) {
      const int64_t salt = f->number() * 10 + k + 1;
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(m, f, -static_cast<int32_t>(salt))
                           : r->SetInt32(m, f, -static_cast<int32_t>(salt));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          // Above 2^53: JSON must carry it as a string to stay exact.
          f->is_repeated() ? r->AddInt64(m, f, (int64_t{1} << 60) + salt)
                           : r->SetInt64(m, f, (int64_t{1} << 60) + salt);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(m, f, 4000000000u) : r->SetUInt32(m, f, 4000000000u);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(m, f, ~uint64_t{0} - salt)
                           : r->SetUInt64(m, f, ~uint64_t{0} - salt);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(m, f, 0.1 * salt) : r->SetDouble(m, f, 0.1 * salt);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(m, f, 0.25f * salt) : r->SetFloat(m, f, 0.25f * salt);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(m, f, true) : r->SetBool(m, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          const auto* e = f->enum_type();
          const auto* v = e->value(e->value_count() - 1 - k % e->value_count());
          f->is_repeated() ? r->AddEnum(m, f, v) : r->SetEnum(m, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING: {
          std::string s = f->type() == FieldDescriptor::TYPE_BYTES
                              ? std::string("\x00\xff\x10raw", 6) + std::to_string(salt)
                              : "BN\xe2\x86\x92ReLU \"quoted\" " + std::to_string(salt);
          f->is_repeated() ? r->AddString(m, f, s) : r->SetString(m, f, s);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth <= 0) break;
          Fill(f->is_repeated() ? r->AddMessage(m, f) : r->MutableMessage(m, f), variant + k,
               depth - 1);
          break;
      }
    }
  }
}

int MaxOneofSize(const Descriptor* d) {
  int n = 1;
  for (int i = 0; i < d->real_oneof_decl_count(); ++i) n = std::max(n, d->oneof_decl(i)->field_count());
  return n;
}

class RoundTripTest : public testing::TestWithParam<const Descriptor*> {};

TEST_P(RoundTripTest, TextFormatAndJsonPreserveEveryField) {
  const Descriptor* d = GetParam();
  const Message* prototype = MessageFactory::generated_factory()->GetPrototype(d);
  ASSERT_NE(prototype, nullptr) << d->full_name();
  for (int variant = 0; variant < MaxOneofSize(d); ++variant) {
    SCOPED_TRACE(d->full_name() + " variant " + std::to_string(variant));
    std::unique_ptr<Message> original(prototype->New());
    Fill(original.get(), variant, /*depth=*/6);

    // The filled message really is non-default in every field it can set.
    std::vector<const FieldDescriptor*> set;
    original->GetReflection()->ListFields(*original, &set);
    int settable = d->field_count();
    for (int i = 0; i < d->real_oneof_decl_count(); ++i) settable -= d->oneof_decl(i)->field_count() - 1;
    EXPECT_EQ(static_cast<int>(set.size()), settable);

    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(*original, &text));
    std::unique_ptr<Message> from_text(prototype->New());
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, from_text.get())) << text;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*original, *from_text)) << text;

    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*original, &json, print).ok());
    std::unique_ptr<Message> from_json(prototype->New());
    auto parsed = google::protobuf::util::JsonStringToMessage(json, from_json.get());
    ASSERT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << json;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*original, *from_json)) << json;

    // The default (lowerCamelCase) JSON names parse back too.
    std::string camel;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(*original, &camel).ok());
    std::unique_ptr<Message> from_camel(prototype->New());
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(camel, from_camel.get()).ok()) << camel;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*original, *from_camel)) << camel;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryContractMessage, RoundTripTest, testing::ValuesIn(AllMessages()),
                         [](const testing::TestParamInfo<const Descriptor*>& info) {
                           std::string name = info.param->full_name();
                           for (char& c : name) {
                             if (c == '.') c = '_';
                           }
                           return name;
                         });

// A text-format model, as users write it, parses into the IR.
TEST(ModelSpecTest, ParsesTheDocumentedExample) {
  const char* text = R"pb(
    name: "tiny"
    input { dims: 1 dims: 28 dims: 28 }
    num_classes: 10
    layers { name: "conv1" inputs: "input" conv2d { out_channels: 8 kernel_size: 3 padding: 1 } }
    layers { name: "bn1" inputs: "conv1" batch_norm {} }
    layers { name: "relu1" inputs: "bn1" relu {} }
    layers { name: "pool" inputs: "relu1" global_avg_pool {} }
    layers { name: "fc" inputs: "pool" linear { out_features: 10 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb";
  v1::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec));
  ASSERT_EQ(spec.layers_size(), 6);
  EXPECT_EQ(spec.layers(0).op_case(), v1::Layer::kConv2D);
  EXPECT_FALSE(spec.layers(0).conv2d().has_stride());  // absent: the default 1
  EXPECT_EQ(spec.layers(5).op_case(), v1::Layer::kSoftmaxCrossEntropy);
}

}  // namespace
}  // namespace slimtrain
